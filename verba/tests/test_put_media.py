"""PutMedia through the HTTP stack (contract §7.12, §7.13): a call and its recording in one
multipart POST, created once and updated by the same nativeid and starttime."""

import json
import urllib.parse
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apikeys.services import create_api_key
from audit.models import ApiRequest
from calls.models import Call, Direction
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav
from retention.services import create_hold
from verba.actions import put_media
from verba.tests.change_helpers import code_of, grant, message_of, request_token
from verba.tests.conftest import golden

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

RECORDING = tone_wav(0.2)
OTHER_RECORDING = tone_wav(0.3, frequency=880.0)
# The id PutMedia derives from this nativeid and starttime (see the golden file).
CALL_ID = "28412e6f-c03e-5f31-a66e-06230cb12f83"
CALL = {
    "starttime": "2026-11-26 10:15:30.123",
    "endtime": "2026-11-26 10:20:45",
    "nativeid": "REC-000123",
    "srccallerid": "+442071234567",
    "srcname": "Ada Lovelace",
    "dstcallerid": "8856",
    "dstname": "Help desk",
    "direction": "1",
    "donotdelete": "1",
    "location": "ignored",
}


@pytest.fixture
def ingest_key() -> str:
    return create_api_key("Recorder", can_query=False, can_ingest=True)[1]


@pytest.fixture
def put(client, ingest_key):
    """POST the call's data in the query string and `files` as the multipart body."""

    def send(files=None, key=ingest_key, **params):
        query = urllib.parse.urlencode({"action": "PutMedia", "apiKey": key, **params})
        if files is None:
            files = {"media": wav()}
        return client.post(f"/verba/api?{query}", files)

    return send


def wav(data: bytes = RECORDING, content_type: str = "audio/wav") -> SimpleUploadedFile:
    return SimpleUploadedFile("call.wav", data, content_type=content_type)


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def test_it_creates_the_call_with_its_recording(put, media_root):
    response = put(**CALL)

    assert response.content == golden("put_media_success.xml")
    call = Call.objects.get()
    assert str(call.pk) == CALL_ID
    assert (call.caller_number, call.caller_name) == ("+442071234567", "Ada Lovelace")
    assert (call.called_number, call.called_name) == ("8856", "Help desk")
    assert call.started_at == datetime(2026, 11, 26, 10, 15, 30, 123000, tzinfo=UTC)
    assert call.ended_at == datetime(2026, 11, 26, 10, 20, 45, tzinfo=UTC)
    assert (call.direction, call.native_id, call.keep) == (Direction.INBOUND, "REC-000123", True)
    assert call.recording_content_type == "audio/wav"
    assert call.recording.read() == RECORDING
    # The audit row names what changed, never a value.
    change = ApiRequest.objects.get().change
    assert change.startswith("call created: started_at, ended_at, native_id, caller_number,")
    assert "recording stored (audio/wav" in change
    assert "8856" not in change and "Ada" not in change


def test_the_same_nativeid_and_starttime_again_updates_that_call(put, media_root):
    put(**CALL)
    response = put(
        files={"other": wav(OTHER_RECORDING)},
        starttime=CALL["starttime"],
        endtime="2026-11-26 10:30",
        nativeid=CALL["nativeid"],
        dstname="Sales",
        responseType="TEXT",
    )

    assert response.content.decode() == f"{CALL_ID}\n"
    call = Call.objects.get()
    assert call.ended_at == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    assert (call.called_name, call.caller_name) == ("Sales", "Ada Lovelace")
    assert call.recording.read() == OTHER_RECORDING
    assert len(stored_files(media_root)) == 1  # the replaced file is gone
    assert ApiRequest.objects.last().change.startswith("call updated: started_at, ended_at,")


def test_without_nativeid_every_upload_is_a_new_call(put):
    params = {k: v for k, v in CALL.items() if k != "nativeid"}

    first, second = put(**params, responseType="JSON"), put(**params, responseType="JSON")

    ids = {json.loads(r.content)["callID"] for r in (first, second)}
    assert len(ids) == 2 and Call.objects.count() == 2


def test_success_in_json_and_html_carries_the_call_id(put):
    as_json = json.loads(put(**CALL, responseType="JSON").content)
    html = put(**CALL, responseType="HTML").content.decode()

    assert as_json == {"code": 0, "type": "PutMedia", "timeZone": "UTC", "callID": CALL_ID}
    assert "<title>PutMedia – Verba Business API</title>" in html
    assert f"<dd>{CALL_ID}</dd>" in html


def test_a_get_is_405_allowing_post_only(client, ingest_key):
    response = client.get("/verba/api", {"action": "PutMedia", "apiKey": ingest_key, **CALL})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert code_of(response) == 1
    assert message_of(response) == "PutMedia takes POST only."
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("change", "in_message"),
    [
        ({"starttime": None}, "The starttime parameter is required"),
        ({"endtime": None}, "The endtime parameter is required"),
        ({"starttime": "2026-11-26T10:15:30"}, "The starttime parameter must be"),
        ({"endtime": "2026-11-26"}, "The endtime parameter must be"),
        ({"endtime": "2026-11-26 10:15"}, "The end cannot be before the start."),
        ({"direction": "3"}, "The direction parameter"),
        ({"donotdelete": "yes"}, "The donotdelete parameter"),
        ({"srccallerid": "1" * 65}, "The srccallerid parameter"),
        ({"dstname": "a\x00b"}, "The dstname parameter"),
        ({"nativeid": "R\x07"}, "The nativeid parameter"),
        ({"srccallerid": None}, "The srccallerid parameter is required when the call is created."),
        ({"dstcallerid": " "}, "The dstcallerid parameter is required when the call is created."),
    ],
)
def test_bad_call_data_is_code_1_naming_the_parameter_and_writes_nothing(
    put, media_root, change, in_message
):
    params = {k: v for k, v in {**CALL, **change}.items() if v is not None}

    response = put(**params)

    assert code_of(response) == 1
    assert in_message in message_of(response)
    assert not Call.objects.exists() and stored_files(media_root) == []


@pytest.mark.parametrize(
    ("files", "in_message"),
    [
        ({}, "Send the recording as a file part"),
        ({"media": wav(content_type="text/html")}, "A recording must be sent as one of"),
        ({"media": wav(b"<html>not audio</html>")}, "is not audio/wav audio"),
        ({"media": wav(b"")}, "The recording is empty."),
    ],
)
def test_a_refused_file_is_code_1_naming_the_reason_and_writes_nothing(
    put, media_root, files, in_message
):
    response = put(files=files, **CALL)

    assert code_of(response) == 1
    assert in_message in message_of(response)
    assert not Call.objects.exists() and stored_files(media_root) == []


def test_a_refused_file_on_update_leaves_the_call_as_it_was(put):
    put(**CALL)

    response = put(files={"media": wav(b"RIFF....")}, **{**CALL, "endtime": "2026-11-26 11:00"})

    assert code_of(response) == 1
    call = Call.objects.get()
    assert call.ended_at == datetime(2026, 11, 26, 10, 20, 45, tzinfo=UTC)
    assert call.recording.read() == RECORDING


@pytest.mark.parametrize("body_bytes", [3_000, 200_000])
def test_an_oversized_file_is_code_1_never_spooled_whole(put, media_root, settings, body_bytes):
    # 3,000 bytes: stopped while reading; 200,000: refused by its Content-Length, unread.
    settings.RECORDING_MAX_BYTES = 2_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000

    response = put(files={"media": wav(RECORDING[:44] + bytes(body_bytes))}, **CALL)

    assert response.status_code == 200
    assert code_of(response) == 1
    assert message_of(response) == (
        "A recording may be at most 2000 bytes; the uploaded file is larger."
    )
    assert not Call.objects.exists() and stored_files(media_root) == []


def test_a_failed_store_leaves_neither_the_call_nor_a_file(put, media_root, monkeypatch):
    def broken_storage(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("calls.services._save_recording", broken_storage)

    response = put(**CALL)

    assert (response.status_code, code_of(response)) == (503, 9)
    assert not Call.objects.exists() and stored_files(media_root) == []


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        ({"can_query": True}, "Access denied: this API key may not upload calls."),
        (
            {"can_query": False, "can_change": True},
            "Access denied: this API key may not upload calls.",
        ),
    ],
)
def test_a_key_without_the_ingest_permission_is_denied(put, permissions, message):
    key = create_api_key("Not a recorder", **permissions)[1]

    response = put(key=key, **CALL)

    assert (code_of(response), message_of(response)) == (6, message)
    assert not Call.objects.exists()


def test_a_token_user_needs_add_call_and_change_call_for_an_update(api, put, staff_user):
    key = create_api_key("Recorder with users", can_ingest=True, requires_auth=True)[1]
    token = request_token(api, key)

    def send(**change):
        return put(key=key, token=token, **{**CALL, **change})

    no_add = send()
    grant(staff_user, "add_call")
    created = send()
    no_change = send(files={"media": wav(OTHER_RECORDING)}, endtime="2026-11-26 11:00")
    grant(staff_user, "change_call")
    updated = send(files={"media": wav(OTHER_RECORDING)}, endtime="2026-11-26 11:00")

    assert [code_of(r) for r in (no_add, created, no_change, updated)] == [6, 0, 6, 0]
    assert message_of(no_add) == "Access denied: the user may not add calls."
    assert message_of(no_change) == "Access denied: the user may not change calls."
    call = Call.objects.get()
    assert call.recording.read() == OTHER_RECORDING
    assert ApiRequest.objects.filter(change__startswith="call ").count() == 2


def test_a_call_that_took_the_derived_id_and_changed_since_is_left_alone(put):
    renamed = CallFactory(id=CALL_ID, native_id="REC-RENAMED", caller_number="555")

    response = put(**CALL, responseType="JSON")

    new_id = json.loads(response.content)["callID"]
    assert new_id != CALL_ID and Call.objects.count() == 2
    renamed.refresh_from_db()
    assert (renamed.native_id, renamed.caller_number, renamed.recording.name) == (
        "REC-RENAMED",
        "555",
        "",
    )


@pytest.mark.parametrize("committed", ["before the id check", "before the insert"])
def test_an_upload_racing_another_of_the_same_new_call_updates_it(put, monkeypatch, committed):
    put(**CALL)
    # This upload's lookup ran before the other one committed: it saw no call.
    monkeypatch.setattr("verba.actions.put_media.calls_by_native_id_and_start", lambda *a: [])
    if committed == "before the insert":
        # …and its id check too: only its insert finds the call.
        real, asked = put_media.call_by_id, []

        def call_by_id(call_id):
            asked.append(call_id)
            return None if len(asked) == 1 else real(call_id)

        monkeypatch.setattr(put_media, "call_by_id", call_by_id)

    response = put(files={"media": wav(OTHER_RECORDING)}, **CALL, responseType="TEXT")

    assert response.content.decode() == f"{CALL_ID}\n"
    call = Call.objects.get()
    assert call.recording.read() == OTHER_RECORDING


def test_a_full_media_disk_is_code_9_naming_storage_and_leaves_neither_call_nor_file(
    put, media_root, full_disk
):
    response = put(**CALL)

    assert response.status_code == 503
    assert code_of(response) == 9
    assert "recordings storage cannot take the file" in message_of(response)
    assert int(response["Retry-After"]) > 0
    assert not Call.objects.exists() and stored_files(media_root) == []

    full_disk["full"] = False
    assert code_of(put(**CALL)) == 0


def test_a_held_calls_recording_is_not_replaced_code_6_as_delete_call_says(put, media_root):
    put(**CALL)
    create_hold("Case 7", reason="Smith v. Acme", by="counsel", call_ids=[CALL_ID])

    response = put(
        files={"media": wav(OTHER_RECORDING)},
        starttime=CALL["starttime"],
        endtime=CALL["endtime"],
        nativeid=CALL["nativeid"],
        dstname="Sales",
    )

    assert (code_of(response), message_of(response)) == (6, "The call is under legal hold.")
    call = Call.objects.get()
    assert call.recording.read() == RECORDING
    assert call.called_name == "Help desk"
    assert len(stored_files(media_root)) == 1
