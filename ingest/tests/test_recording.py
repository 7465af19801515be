"""PUT /api/v1/calls/<id>/recording: the raw audio, stored through Django's storage."""

import io

import pytest
from django.core.files.storage import default_storage

from calls.models import Call
from calls.tests.factories import CallFactory
from retention.services import create_hold

pytestmark = pytest.mark.django_db

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def put(api, call, body, content_type="audio/wav", **extra):
    return api.put(f"/api/v1/calls/{call.pk}/recording", body, content_type=content_type, **extra)


def test_it_stores_the_recording_and_answers_201(api):
    call = CallFactory()

    response = put(api, call, WAV)

    assert response.status_code == 201
    assert response.json()["has_recording"] is True
    assert response.json()["recording_content_type"] == "audio/wav"
    call.refresh_from_db()
    assert call.recording.name.endswith(f"{call.pk}.wav")
    with default_storage.open(call.recording.name) as stored:
        assert stored.read() == WAV


def test_a_second_upload_replaces_the_first_and_removes_its_file(
    api, django_capture_on_commit_callbacks
):
    call = CallFactory()
    put(api, call, WAV)
    call.refresh_from_db()
    old_name = call.recording.name

    # The old file goes once the new one is committed.
    with django_capture_on_commit_callbacks(execute=True):
        response = put(api, call, b"OggS" + b"\x01" * 1000, content_type="audio/ogg")

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.recording_content_type == "audio/ogg"
    assert call.recording.name != old_name
    assert not default_storage.exists(old_name)
    with default_storage.open(call.recording.name) as stored:
        assert stored.read().startswith(b"OggS")


def test_content_type_parameters_are_ignored(api):
    call = CallFactory()

    response = put(api, call, b"\x1aE\xdf\xa3" * 10, content_type="audio/webm; codecs=opus")

    assert response.status_code == 201
    assert response.json()["recording_content_type"] == "audio/webm"


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "video/mp4"])
def test_other_content_types_are_refused_with_415(api, content_type):
    call = CallFactory()

    response = put(api, call, WAV, content_type=content_type)

    assert response.status_code == 415
    assert "audio/wav" in response.json()["detail"]
    assert not Call.objects.get(pk=call.pk).recording


def test_a_recording_over_the_limit_is_refused_with_413_before_storing(api, settings, media):
    settings.RECORDING_MAX_BYTES = 100
    call = CallFactory()

    response = put(api, call, WAV)

    assert response.status_code == 413
    assert "at most 100 bytes" in response.json()["detail"]
    assert not Call.objects.get(pk=call.pk).recording
    assert not any(media.rglob("*.wav"))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><script>fetch('/admin/')</script></html>", "audio/wav"),
        (b"<svg onload='alert(1)'/>", "audio/mpeg"),
        (WAV, "audio/ogg"),
    ],
    ids=["html-as-wav", "svg-as-mp3", "wav-as-ogg"],
)
def test_content_that_is_not_the_declared_audio_is_refused_with_415(api, media, body, content_type):
    call = CallFactory()

    response = put(api, call, body, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {
        "detail": f"The content is not {content_type} audio: its first bytes do not match."
    }
    assert not Call.objects.get(pk=call.pk).recording
    assert not any(p.is_file() for p in media.rglob("*"))


def test_the_accepted_types_come_from_the_settings(api, settings):
    # Only audio types count, whatever the setting lists.
    settings.RECORDING_CONTENT_TYPES = ["audio/x-custom", "text/html"]
    call = CallFactory()

    assert put(api, call, WAV).status_code == 415
    assert put(api, call, WAV, content_type="audio/x-custom").status_code == 201
    assert put(api, call, WAV, content_type="text/html").status_code == 415


def test_an_empty_recording_is_a_400(api):
    call = CallFactory()

    response = put(api, call, b"")

    assert response.status_code in (400, 411)
    assert not Call.objects.get(pk=call.pk).recording


def test_a_body_shorter_than_its_content_length_is_refused(api):
    call = CallFactory()

    # What a server hands on when the client hangs up halfway through.
    truncated = io.BytesIO(WAV[:100])
    response = put(api, call, b"", CONTENT_LENGTH=str(len(WAV)), **{"wsgi.input": truncated})

    assert response.status_code == 400
    assert not Call.objects.get(pk=call.pk).recording


def test_an_unknown_call_is_a_404(api):
    response = api.put(
        "/api/v1/calls/6b5e3a7c-0d5e-4a1e-9a55-3f5c2b1d0e9f/recording",
        WAV,
        content_type="audio/wav",
    )

    assert response.status_code == 404


def test_an_upload_without_a_key_is_a_401(client):
    call = CallFactory()

    response = client.put(f"/api/v1/calls/{call.pk}/recording", WAV, content_type="audio/wav")

    assert response.status_code == 401
    assert not Call.objects.get(pk=call.pk).recording


# --- Slow and stalled uploads (issue 19, item 2) --------------------------------------------


class ArrivingBody:
    """A request body as the server reads it from a client: `arrive` says what each read
    gets (bytes, or an exception such as the socket's timeout)."""

    def __init__(self, data: bytes, on_read=None):
        self._data = io.BytesIO(data)
        self._on_read = on_read

    def read(self, size=-1):
        if self._on_read is not None:
            self._on_read()
        return self._data.read(size)

    def readline(self, size=-1):
        return self._data.readline(size)


@pytest.mark.django_db(transaction=True)
def test_an_upload_holds_no_database_connection_while_its_body_arrives(api):
    from django.db import connection

    call = CallFactory()
    holding = []

    def note() -> None:
        holding.append(connection.connection is not None)

    response = put(api, call, WAV, **{"wsgi.input": ArrivingBody(WAV, note)})

    assert response.status_code == 201
    assert holding and not any(holding)


def test_an_upload_whose_body_stops_arriving_is_answered_408_and_stores_nothing(api, media):
    call = CallFactory()
    reads = []

    def stall() -> None:
        reads.append(1)
        if len(reads) > 1:
            raise TimeoutError("timed out")  # what the socket's read timeout raises

    body = WAV * 100  # more than one read
    response = put(api, call, body, **{"wsgi.input": ArrivingBody(body, stall)})

    assert response.status_code == 408
    assert "stopped arriving" in response.json()["detail"]
    call.refresh_from_db()
    assert not call.recording
    assert not [path for path in media.rglob("*") if path.is_file()]


# --- A full or read-only media disk (issue 19, item 4) --------------------------------------


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()]


@pytest.mark.parametrize("error", ["ENOSPC", "EROFS"])
def test_a_full_or_read_only_disk_is_a_503_naming_storage_and_leaves_no_file(
    api, media, full_disk, error
):
    import errno

    full_disk["error"] = getattr(errno, error)
    call = CallFactory()

    response = put(api, call, WAV)

    assert response.status_code == 503
    assert "recordings storage" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    assert stored_files(media) == []
    call.refresh_from_db()
    assert not call.recording


def test_uploads_work_again_as_soon_as_space_is_back(api, media, full_disk):
    call = CallFactory()
    assert put(api, call, WAV).status_code == 503

    full_disk["full"] = False
    response = put(api, call, WAV)

    assert response.status_code == 201
    call.refresh_from_db()
    assert [path.read_bytes() for path in stored_files(media)] == [WAV]


def test_a_held_calls_recording_is_not_replaced_409_saying_so(api, media):
    call = CallFactory()
    put(api, call, WAV)
    call.refresh_from_db()
    kept = call.recording.name
    create_hold("Case 7", reason="Smith v. Acme", by="counsel", call_ids=[call.pk])

    response = put(api, call, b"OggS" + b"\x01" * 1000, content_type="audio/ogg")

    assert response.status_code == 409
    assert response.json() == {"detail": "The call is under legal hold."}
    call.refresh_from_db()
    assert (call.recording.name, call.recording_content_type) == (kept, "audio/wav")
    assert [p.name for p in media.rglob("*") if p.is_file()] == [kept.rsplit("/", 1)[-1]]


def test_a_held_call_without_a_recording_may_get_its_first(api):
    call = CallFactory()
    create_hold("Case 8", reason="Smith v. Acme", by="counsel", call_ids=[call.pk])

    assert put(api, call, WAV).status_code == 201
