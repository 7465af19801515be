"""The public Python client for Verba (`verba-client` on PyPI, pinned in requirements-dev.txt)
driven unchanged against a live server, the way an integration uses it: log in, search,
look a call up, download its audio, keep or delete it.

Where the client disagrees with the contract the contract wins (docs/api.md, "Clients
tested"); each such test asserts both sides: our answer has the contract's shape, and the
client's method returns what its own parsing makes of it."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import av
import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone
from verba_client import VerbaAPIError, VerbaClient, VerbaTokenExpiredError

from apikeys.services import create_api_key
from calls.models import Call, Marker
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

SECONDS = 4.0
RECORDING = tone_wav(SECONDS)
PASSWORD = "pw-staff-1"  # the staff_user fixture's


@pytest.fixture
def key() -> str:
    """A key that requires a token and may do all the client offers: query, change, upload."""
    return create_api_key("verba-client", requires_auth=True, can_change=True, can_ingest=True)[1]


@pytest.fixture
def verba(live_server, staff_user, key) -> Iterator[VerbaClient]:
    """The client as its README opens it: a context manager that logs in on entry."""
    with VerbaClient(
        base_url=f"{live_server.url}/verba", api_key=key, username="staff", password=PASSWORD
    ) as client:
        yield client


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=codenames, content_type__app_label="calls")
    )


def recorded_call(**fields) -> Call:
    call = CallFactory(recording_content_type="audio/wav", **fields)
    call.recording.save("call.wav", ContentFile(RECORDING))
    return call


def raw(client: VerbaClient, **params: str) -> bytes:
    """The same request the client makes, read without its parsing."""
    response = requests.get(
        f"{client.base_url}/api",
        params={"apiKey": client.api_key, "token": client.token, **params},
        timeout=30,
    )
    assert response.status_code == 200
    return response.content


def parsed(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - our own server's answer


def xml_error(data: bytes) -> tuple[str, str, str]:
    """(code, type, message) of an XML error answer."""
    answer = parsed(data).find("Response")
    assert answer is not None, data
    return answer.get("code", ""), answer.get("type", ""), answer.findtext("ErrorMessage", "")


def audio_seconds(data: bytes, container_format: str) -> float:
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.format.name == container_format
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_the_client_logs_in_searches_and_downloads_a_calls_audio(verba):
    started = (timezone.now() - timedelta(hours=1)).replace(microsecond=250000)
    call = recorded_call(started_at=started, ended_at=started + timedelta(minutes=5))
    silent = CallFactory(started_at=started - timedelta(minutes=10))
    now = timezone.now()

    # RequestToken with HTTP Basic credentials (contract §4), on entering the context.
    assert re.fullmatch(r"[A-Za-z0-9]{32}", verba.token)

    found = verba.search_calls(now - timedelta(days=1), now, pagelen=100)
    assert [record.ccdr_id for record in found.calls] == [str(call.pk), str(silent.pk)]
    record = found.calls[0]
    assert record.start_time == naive_utc(started)
    assert record.end_time == naive_utc(started + timedelta(minutes=5))
    assert record.duration == "0:05:00"
    assert record.source_caller_id == call.caller_number
    assert record.source_name == "Ada Lovelace"
    assert record.destination_caller_id == "8856"
    assert record.destination_name == "Help desk"
    assert record.state == "1"
    assert record.ondemand is False
    assert record.raw["media"] == "true"
    assert found.calls[1].raw["media"] == "false"

    # pagefirst is 0-based in both: one row a page walks the whole list, then stops.
    walked = verba.search_all_calls(now - timedelta(days=1), now, page_size=1)
    assert [record.ccdr_id for record in walked.calls] == [str(call.pk), str(silent.pk)]
    assert walked.row_count == 2
    narrowed = verba.search_calls(now - timedelta(days=1), now, anynum=call.caller_number)
    assert [record.ccdr_id for record in narrowed.calls] == [str(call.pk)]

    for looked_up in (
        verba.get_call_information(call_id=str(call.pk)),
        verba.get_call_information(platform_call_id=call.platform_call_id),
        verba.get_call_information(native_id=call.native_id),
        verba.get_call_information(extension=call.caller_number, status="last"),
    ):
        assert looked_up == record

    assert verba.get_media(ccdr_id=str(call.pk)) == RECORDING
    assert verba.get_media(extension=call.caller_number, status="last") == RECORDING
    mp3 = verba.get_media_encoded(ccdr_id=str(call.pk))  # the contract's default: mp3
    assert audio_seconds(mp3, "mp3") == pytest.approx(SECONDS, abs=0.1)
    assert verba.get_media_encoded(ccdr_id=str(call.pk), codec="mp3") == mp3
    wav = verba.get_media_encoded(ccdr_id=str(call.pk), codec="pcm8")
    assert audio_seconds(wav, "wav") == pytest.approx(SECONDS, abs=0.01)


def test_the_client_keeps_and_deletes_calls(verba, staff_user):
    grant(staff_user, "change_call", "delete_call")
    kept, doomed = recorded_call(), CallFactory()

    assert verba.keep_call(call_id=str(kept.pk)) is True
    assert verba.get_call_information(call_id=str(kept.pk)).raw["do_not_delete"] == "1"
    # §7.5: a kept call is not deleted; the client raises our code and message.
    with pytest.raises(VerbaAPIError) as refused:
        verba.delete_call(call_id=str(kept.pk))
    assert (refused.value.code, refused.value.message) == (
        6,
        "The call is kept and cannot be deleted.",
    )

    assert verba.delete_call(call_id=str(doomed.pk)) is True
    assert list(Call.objects.values_list("pk", flat=True)) == [kept.pk]


def test_get_call_url_and_get_call_id_return_empty_strings_as_the_client_reads_attributes(
    verba,
):
    call = CallFactory()

    # §5 / §2.1: the URL is the text of a <CallURL> element next to a self-closing
    # <Response/>. The client reads a `url` attribute of <Response>, so it finds nothing.
    answer = parsed(raw(verba, action="GetCallURL", callID=str(call.pk)))
    assert answer.find("Response").attrib == {"code": "0", "type": "GetCallURL"}
    assert answer.findtext("CallURL").endswith(f"/verba/gwtCallDetail.do?ccdrId={call.pk}")
    assert verba.get_call_url(call_id=str(call.pk)) == ""

    # §7.1: the same shape with <CallID>; the client reads a `callID` attribute.
    answer = parsed(raw(verba, action="GetCallID", extension=call.caller_number, status="last"))
    assert answer.find("Response").attrib == {"code": "0", "type": "GetCallID"}
    assert answer.findtext("CallID") == str(call.pk)
    assert verba.get_call_id(extension=call.caller_number, status="last") == ""


def test_the_clients_row_count_and_direction_stay_empty_as_it_reads_other_names(verba):
    CallFactory.create_batch(2)  # inbound
    now = timezone.now()

    # §7.3: rowcount is an attribute of <verbacdrlist>; the client reads it from the root.
    listing = parsed(
        raw(
            verba,
            action="SearchCalls",
            start=f"{now - timedelta(days=1):%Y-%m-%d %H:%M}",
            end=f"{now:%Y-%m-%d %H:%M}",
        )
    )
    assert listing.find("Response/verbacdrlist").get("rowcount") == "2"
    found = verba.search_calls(now - timedelta(days=1), now)
    assert len(found.calls) == 2
    assert found.row_count == 0

    # §7.0: the direction is <direction_id> (1 inbound); the client reads userdirection or
    # defdirection, and finds neither. Its `url` field has no counterpart in the record.
    assert [(r.direction, r.raw["direction_id"], r.url) for r in found.calls] == [("", "1", "")] * 2


def test_the_clients_marker_methods_use_names_the_contract_does_not_have(verba, staff_user):
    grant(staff_user, "change_call")
    call = CallFactory()
    Marker.objects.create(call=call, name="Sale", start_ms=16700, end_ms=65400)

    # §7.7: AddMarker takes mname and mmode/mstart/mend; the client sends position and label.
    with pytest.raises(VerbaAPIError) as refused:
        verba.add_marker(call_id=str(call.pk), position=16700, label="Pitch")
    assert refused.value.code == 1
    assert "mname" in refused.value.message
    assert list(call.markers.values_list("name", flat=True)) == ["Sale"]

    # §7.7: GetMarkers answers <verbamarker><name/><start/><end/></verbamarker>; the client
    # looks for <marker position=… label=…> and returns an empty list.
    answer = raw(verba, action="GetMarkers", callID=str(call.pk))
    assert b"<verbamarker><name>Sale</name><start>16700</start><end>65400</end></verbamarker>" in (
        answer
    )
    assert verba.get_markers(call_id=str(call.pk)) == []


def test_attach_metadata_is_an_unknown_action_as_the_client_spells_it_differently(
    verba, staff_user
):
    grant(staff_user, "change_call")
    call = CallFactory()

    # §7.6: the action is AttachMetaData, and action names are case-sensitive (docs/api.md).
    with pytest.raises(VerbaAPIError) as refused:
        verba.attach_metadata(call_id=str(call.pk), ticket="T-1")
    assert (refused.value.code, refused.value.message) == (1, "The action is not known.")


def test_the_clients_segment_and_waveform_requests_get_xml_errors_it_returns_as_media(verba):
    call = recorded_call()
    silent = CallFactory()

    # §7.10: start and end are seconds; the client sends milliseconds, so 1000 is past the
    # end of a 4-second recording. Media errors are XML with HTTP 200 (§7.0), and the client
    # hands them back as if they were the audio.
    segment = verba.get_media_segment(ccdr_id=str(call.pk), start_ms=1000, end_ms=3000)
    assert xml_error(segment)[:2] == ("1", "GetMediaSegment")
    # The contract's request for the same two seconds is audio.
    wav = raw(verba, action="GetMediaSegment", callID=str(call.pk), start="1", end="3")
    assert audio_seconds(wav, "wav") == pytest.approx(2.0, abs=0.01)

    # §7.11: width, height and isColorDefined are mandatory; the client sends none of them.
    waveform = verba.get_waveform(ccdr_id=str(call.pk))
    assert xml_error(waveform)[:2] == ("1", "GetWaveform")

    # The same for a call without a recording: the client returns the error as the "media".
    assert xml_error(verba.get_media(ccdr_id=str(silent.pk))) == (
        "2",
        "GetMedia",
        "The call has no media.",
    )


def test_actions_the_contract_does_not_have_are_refused_with_code_1(verba):
    call = recorded_call()
    unknown = ("1", "The action is not known.")

    # GetVoiceQuality, MuteRecording, GetMediaLive and GetThumbnail are not part of the
    # contract (§5, §7). The XML-reading methods raise; the media ones return the answer.
    for method, kwargs in [
        (verba.get_voice_quality, {"call_id": str(call.pk)}),
        (verba.mute_recording, {"extension": call.caller_number}),
    ]:
        with pytest.raises(VerbaAPIError) as refused:
            method(**kwargs)
        assert (str(refused.value.code), refused.value.message) == unknown
    live = xml_error(verba.get_media_live(extension=call.caller_number))
    thumbnail = xml_error(verba.get_thumbnail(ccdr_id=str(call.pk)))
    assert (live[0], live[2]) == (thumbnail[0], thumbnail[2]) == unknown


def test_put_media_is_refused_as_the_client_sends_a_raw_body_not_a_multipart_file(
    verba, staff_user
):
    grant(staff_user, "add_call")

    # §7.12: the recording travels as a file part of a multipart/form-data body; the client
    # posts the bytes as the raw body, so there is no file and nothing is stored.
    with pytest.raises(VerbaAPIError) as refused:
        verba.put_media(
            media_data=RECORDING,
            starttime="2026-11-30 10:00:00",
            endtime="2026-11-30 10:00:04",
            srccallerid="+442070000001",
            dstcallerid="8856",
        )
    assert refused.value.code == 1
    assert "multipart/form-data" in refused.value.message
    assert not Call.objects.exists()


def test_the_client_raises_our_result_codes_not_its_own_exception_classes(
    live_server, staff_user, key
):
    base_url = f"{live_server.url}/verba"

    # §3: a wrong password is code 5; the client maps only Verba's negative codes to its
    # classes (VerbaAuthError for -40), so it raises its base class, with our message.
    stranger = VerbaClient(base_url=base_url, api_key=key, username="staff", password="wrong")
    with pytest.raises(VerbaAPIError) as refused:
        stranger.authenticate()
    stranger.close()
    assert type(refused.value) is VerbaAPIError
    assert (refused.value.code, refused.value.message) == (5, "The user name or password is wrong.")

    # A released token is code 5 as well (§4). The client re-authenticates only on its
    # VerbaTokenExpiredError (-43), so it raises; logging in again works.
    with VerbaClient(base_url=base_url, api_key=key, username="staff", password=PASSWORD) as client:
        released = raw(client, action="ReleaseToken")
        assert parsed(released).find("Response").attrib == {
            "code": "0",
            "type": "ReleaseToken",
        }
        now = timezone.now()
        with pytest.raises(VerbaAPIError) as refused:
            client.search_calls(now - timedelta(days=1), now)
        assert not isinstance(refused.value, VerbaTokenExpiredError)
        assert (refused.value.code, refused.value.message) == (
            5,
            "The token is invalid, expired or released.",
        )
        client.authenticate()
        assert client.search_calls(now - timedelta(days=1), now).calls == []
