"""GetCallInformation (contract §7.2) and the `<verbacdr>` record (§7.0, §7.13) in all four
formats, through the HTTP stack."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile

from calls.models import Direction, MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")
STARTED = datetime(2026, 11, 26, 10, 15, 30, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def info(api, key):
    def call(**params):
        with time_machine.travel(NOW, tick=False):
            return api(action="GetCallInformation", apiKey=key, **params)

    return call


@pytest.fixture
def finished():
    """A finished call with every field known, the way Verba's sample shows one."""
    return CallFactory(
        id=CALL_ID,
        caller_number="+442071234567",
        caller_name='Ada "A" Lovelace & Co <sales>',
        called_number="8856",
        called_name="Help desk",
        started_at=STARTED,
        ended_at=STARTED + timedelta(minutes=5, seconds=15, milliseconds=876),
        direction=Direction.OUTBOUND,
        native_id="REC-000123",
        platform_call_id="4711@pbx.example.com",
        keep=True,
    )


@pytest.fixture
def in_progress():
    """A call going on for 1 h 44 min, with nothing but the numbers and the start known."""
    return CallFactory(
        id=CALL_ID,
        caller_number="8856",
        caller_name="",
        called_number="+13125550100",
        called_name="",
        started_at=STARTED,
        ended_at=None,
        direction="",
        native_id="",
        platform_call_id="",
    )


def test_a_finished_call_answers_golden_xml(info, finished):
    response = info(callID=str(CALL_ID))
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.content == golden("get_call_information_success.xml")


def test_a_call_in_progress_has_state_0_empty_elements_and_the_time_so_far(info, in_progress):
    assert info(ccdr_id=str(CALL_ID)).content == golden("get_call_information_in_progress.xml")


def test_an_unknown_call_answers_golden_xml(info):
    assert info(cid=str(CALL_ID)).content == golden("get_call_information_not_found.xml")


def test_naming_nothing_answers_golden_xml(info):
    assert info().content == golden("get_call_information_nothing_named.xml")


@pytest.mark.parametrize(
    "naming",
    [
        {"callID": str(CALL_ID)},
        {"ccdr_id": str(CALL_ID).upper()},
        {"cid": str(CALL_ID)},
        {"platformCallID": "4711@pbx.example.com"},
        {"nativeID": "REC-000123"},
        {"extension": "8856", "status": "last"},
    ],
)
def test_the_call_may_be_named_in_every_way(info, finished, naming):
    assert info(**naming).content == golden("get_call_information_success.xml")


def test_json_keeps_the_field_names_with_their_types(info, finished):
    response = info(callID=str(CALL_ID), responseType="JSON")
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "code": 0,
        "type": "GetCallInformation",
        "timeZone": "UTC",
        "call": {
            "state": 1,
            "ccdr_id": str(CALL_ID),
            "native_id": "REC-000123",
            "source_caller_id": "+442071234567",
            "source_name": 'Ada "A" Lovelace & Co <sales>',
            "destination_caller_id": "8856",
            "destination_name": "Help desk",
            "start_time": "2026-11-26 10:15:30.123",
            "end_time": "2026-11-26 10:20:45.999",
            "duration": "0:05:15",
            "direction_id": 2,
            "platform_call_id": "4711@pbx.example.com",
            "ondemand": False,
            "do_not_delete": 1,
            "media": False,
        },
    }


def test_json_writes_unknown_values_as_null(info, in_progress):
    call = info(callID=str(CALL_ID), responseType="JSON").json()["call"]
    assert call["state"] == 0
    assert call["end_time"] is None
    assert call["direction_id"] is None
    assert call["source_name"] is None
    assert call["duration"] == "1:44:29"


def test_text_writes_one_name_value_line_per_field(info, finished):
    response = info(callID=str(CALL_ID), responseType="TEXT")
    assert response["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.content.decode() == (
        "state=1\n"
        f"ccdr_id={CALL_ID}\n"
        "native_id=REC-000123\n"
        "source_caller_id=+442071234567\n"
        'source_name=Ada "A" Lovelace & Co <sales>\n'
        "destination_caller_id=8856\n"
        "destination_name=Help desk\n"
        "start_time=2026-11-26 10:15:30.123\n"
        "end_time=2026-11-26 10:20:45.999\n"
        "duration=0:05:15\n"
        "direction_id=2\n"
        "platform_call_id=4711@pbx.example.com\n"
        "ondemand=false\n"
        "do_not_delete=1\n"
        "media=false\n"
    )


def test_text_keeps_one_line_per_field_whatever_a_name_holds(info, finished):
    finished.caller_name = "two\nlines\tand a tab"
    finished.save()
    text = info(callID=str(CALL_ID), responseType="TEXT").content.decode()
    assert "source_name=two lines and a tab\n" in text
    assert len(text.splitlines()) == 15


def test_html_is_a_table_with_the_fields_in_record_order(info, finished):
    response = info(callID=str(CALL_ID), responseType="HTML")
    html = response.content.decode()
    assert response["Content-Type"] == "text/html; charset=UTF-8"
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>GetCallInformation – Verba Business API</title>" in html
    # Column names may wrap after their underscores (a <wbr>, which leaves the text).
    header = html.split("<thead>", 1)[1].split("</thead>", 1)[0].replace("<wbr>", "")
    assert header.count("<th") == 15
    assert header.index(">state<") < header.index(">ccdr_id<") < header.index(">media<")
    assert "<td>Ada &quot;A&quot; Lovelace &amp; Co &lt;sales&gt;</td>" in html
    # The call's id links to its staff page.
    assert f'<td class="id"><a href="/calls/{CALL_ID}/">' in html


def test_a_stored_recording_is_media_true(info, finished, media_root):
    finished.recording.save("call.wav", ContentFile(b"RIFF"), save=True)
    assert b"<media>true</media>" in info(callID=str(CALL_ID)).content


def test_direction_ids_are_0_internal_1_inbound_2_outbound(info, finished):
    for direction, number in [("internal", b"0"), ("inbound", b"1"), ("outbound", b"2")]:
        finished.direction = direction
        finished.save()
        body = info(callID=str(CALL_ID)).content
        assert b"<direction_id>" + number + b"</direction_id>" in body


def test_a_call_with_an_end_still_to_come_is_in_progress(info, finished):
    finished.ended_at = NOW + timedelta(minutes=5)
    finished.save()
    body = info(callID=str(CALL_ID)).content
    assert b'<verbacdr state="0">' in body
    assert b"<end_time>2026-11-26 12:05:00.000</end_time>" in body
    assert b"<duration>1:44:29</duration>" in body


def test_a_call_without_an_end_for_days_is_still_found_by_its_id(info, in_progress):
    # Past the maximum call length it is no longer "ongoing", but callID still finds it.
    in_progress.started_at = NOW - timedelta(days=3)
    in_progress.save()
    body = info(callID=str(CALL_ID)).content
    assert b'<verbacdr state="0">' in body
    assert b"<duration>72:00:00</duration>" in body


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " 1 "])
def test_return_metadata_adds_an_empty_metadata_object_in_json(info, finished, value):
    # No call has custom metadata yet: the record says so instead of leaving the key out.
    call = info(callID=str(CALL_ID), responseType="JSON", returnMetadata=value).json()["call"]
    assert call["metadata"] == {}


def test_return_metadata_without_values_writes_no_metadata_element(info, finished):
    body = info(callID=str(CALL_ID), returnMetadata="1").content
    assert body == golden("get_call_information_success.xml")


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_return_metadata_off_leaves_metadata_out(info, finished, value):
    call = info(callID=str(CALL_ID), responseType="JSON", returnMetadata=value).json()["call"]
    assert "metadata" not in call


@pytest.mark.parametrize("value", ["yes", "2", "on"])
def test_a_malformed_return_metadata_is_code_1_before_the_lookup(info, value):
    response = info(cid=str(uuid.uuid4()), returnMetadata=value, responseType="TEXT")
    assert response.content == (
        b"ERROR 1: The returnMetadata parameter must be 1 or 0 (or true or false).\n"
    )


def test_two_platform_matches_are_code_3(info):
    CallFactory(platform_call_id="dup")
    CallFactory(platform_call_id="dup")
    response = info(platformCallID="dup", responseType="JSON")
    assert response.json() == {
        "code": 3,
        "type": "GetCallInformation",
        "timeZone": "UTC",
        "errorMessage": (
            "Unable to retrieve the call information, because more than one call matches."
        ),
    }


def test_characters_xml_cannot_carry_are_replaced(info, finished):
    finished.called_name = "bell\x07"
    finished.save()
    body = info(callID=str(CALL_ID)).content
    assert "<destination_name>bell\ufffd</destination_name>".encode() in body


def test_return_metadata_adds_the_fields_with_a_value_ordered_by_identifier(info, finished):
    fields = {
        identifier: MetadataField.objects.create(
            identifier=identifier, label=identifier.title(), api_access=access
        )
        for identifier, access in [("ticket", True), ("Customer_ID", True), ("secret", False)]
    }
    MetadataValue.objects.create(call=finished, field=fields["ticket"], value="T-1 & <2>")
    MetadataValue.objects.create(call=finished, field=fields["Customer_ID"], value="C-42")
    MetadataValue.objects.create(call=finished, field=fields["secret"], value="hidden")
    response = info(callID=str(CALL_ID), returnMetadata="1")
    assert response.content == golden("get_call_information_metadata.xml")
    call = info(callID=str(CALL_ID), returnMetadata="1", responseType="JSON").json()["call"]
    assert call["metadata"] == {"Customer_ID": "C-42", "ticket": "T-1 & <2>"}
    assert b"<metadata>" not in info(callID=str(CALL_ID)).content
