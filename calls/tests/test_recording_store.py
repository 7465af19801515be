"""calls.services.store_recording: the one way a recording is written, and what it refuses."""

import io

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from calls.models import Call
from calls.services import RecordingProblem, RecordingRejected, store_recording
from calls.tests.factories import CallFactory
from staff.tests.test_recordings import wav_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

HTML = b"<!DOCTYPE html><html><body><script>fetch('/admin/')</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"/>'
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 100
OGG = b"OggS\x00\x02" + b"\x00" * 200


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_it_stores_a_wav_and_says_it_was_the_first(media_root):
    call = CallFactory()

    stored = store_recording(call, io.BytesIO(wav_bytes()), "Audio/WAV; codecs=1")

    assert stored.replaced is False
    assert stored.content_type == "audio/wav"
    assert stored.size == len(wav_bytes())
    row = Call.objects.get(pk=call.pk)
    assert row.recording_content_type == "audio/wav"
    assert stored_files(media_root) == [row.recording.name]
    with default_storage.open(row.recording.name) as saved:
        assert saved.read() == wav_bytes()


def test_a_second_recording_replaces_the_first_and_deletes_its_file(media_root):
    call = CallFactory()
    first = store_recording(call, io.BytesIO(wav_bytes()), "audio/wav")

    second = store_recording(call, io.BytesIO(MP3), "audio/mpeg")

    assert second.replaced is True
    assert second.call.recording.name != first.call.recording.name
    assert stored_files(media_root) == [second.call.recording.name]


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        (HTML, "text/html"),
        (HTML, "audio/wav"),  # a declared type is only a claim
        (SVG, "audio/mpeg"),
        (b"%PDF-1.7\n" + b"\x00" * 100, "audio/ogg"),
        (wav_bytes(), "audio/mpeg"),  # audio, but not the audio it claims to be
        (MP3, "application/octet-stream"),
        (MP3, "text/html; charset=utf-8"),
        (OGG, ""),
    ],
    ids=[
        "html-as-html",
        "html-as-wav",
        "svg-as-mp3",
        "pdf-as-ogg",
        "wav-as-mp3",
        "mp3-as-octet-stream",
        "mp3-as-html",
        "ogg-without-type",
    ],
)
def test_it_refuses_what_is_not_the_allowed_audio_it_claims_to_be(media_root, content, declared):
    call = CallFactory()

    with pytest.raises(RecordingRejected) as refused:
        store_recording(call, io.BytesIO(content), declared)

    assert refused.value.problem in (RecordingProblem.UNSUPPORTED_TYPE, RecordingProblem.NOT_AUDIO)
    assert not Call.objects.get(pk=call.pk).recording
    assert stored_files(media_root) == []


def test_a_configured_type_it_does_not_know_still_needs_audio_bytes(settings):
    settings.RECORDING_CONTENT_TYPES = ["audio/x-custom"]
    call = CallFactory()

    with pytest.raises(RecordingRejected):
        store_recording(call, io.BytesIO(HTML), "audio/x-custom")
    assert store_recording(call, io.BytesIO(OGG), "audio/x-custom").content_type == "audio/x-custom"


def test_only_audio_types_are_ever_allowed_whatever_the_setting_says(settings):
    settings.RECORDING_CONTENT_TYPES = ["audio/wav", "text/html", "image/svg+xml"]
    call = CallFactory()

    with pytest.raises(RecordingRejected) as refused:
        store_recording(call, io.BytesIO(HTML), "text/html")

    assert refused.value.problem == RecordingProblem.UNSUPPORTED_TYPE
    assert refused.value.reason == "A recording must be sent as one of: audio/wav."


def test_common_aliases_count_as_the_type_they_name():
    call = CallFactory()

    stored = store_recording(
        call, io.BytesIO(b"\x00\x00\x00\x20ftypM4A " + bytes(64)), "audio/x-m4a"
    )

    assert stored.content_type == "audio/mp4"
    assert stored.call.recording.name.endswith(".m4a")


def test_it_stops_reading_one_byte_past_the_limit(settings, media_root):
    settings.RECORDING_MAX_BYTES = 1000
    call = CallFactory()
    body = io.BytesIO(wav_bytes())

    with pytest.raises(RecordingRejected) as refused:
        store_recording(call, body, "audio/wav")

    assert refused.value.problem == RecordingProblem.TOO_LARGE
    assert body.tell() == 1001
    assert stored_files(media_root) == []


def test_an_announced_size_over_the_limit_is_refused_before_reading(settings):
    settings.RECORDING_MAX_BYTES = 1000
    body = io.BytesIO(wav_bytes())

    with pytest.raises(RecordingRejected) as refused:
        store_recording(CallFactory(), body, "audio/wav", announced_size=5000)

    assert refused.value.reason == "A recording may be at most 1000 bytes; this one has 5000."
    assert body.tell() == 0


def test_a_body_shorter_than_announced_is_refused(media_root):
    with pytest.raises(RecordingRejected) as refused:
        store_recording(
            CallFactory(), io.BytesIO(wav_bytes()[:100]), "audio/wav", announced_size=200
        )

    assert refused.value.problem == RecordingProblem.INCOMPLETE
    assert stored_files(media_root) == []


def test_an_empty_recording_is_refused():
    with pytest.raises(RecordingRejected) as refused:
        store_recording(CallFactory(), io.BytesIO(b""), "audio/wav")

    assert refused.value.problem == RecordingProblem.EMPTY


def test_a_write_that_fails_after_saving_the_file_deletes_it(monkeypatch, media_root):
    call = CallFactory()
    first = store_recording(call, io.BytesIO(wav_bytes()), "audio/wav")

    def broken_save(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Call, "save", broken_save)
    with pytest.raises(RuntimeError):
        store_recording(call, io.BytesIO(MP3), "audio/mpeg")

    # The call still has its first recording, and the second file is gone.
    assert stored_files(media_root) == [first.call.recording.name]
    assert Call.objects.get(pk=call.pk).recording.name == first.call.recording.name


def test_it_refuses_to_run_inside_a_transaction_that_could_still_roll_back(media_root):
    # Were it to, a rollback after it returned would leave its file with no row.
    call = CallFactory()

    with transaction.atomic(), pytest.raises(RuntimeError):
        store_recording(call, io.BytesIO(wav_bytes()), "audio/wav")

    assert stored_files(media_root) == []


def test_a_type_that_is_not_audio_in_the_setting_is_reported_by_the_system_checks(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.RECORDING_CONTENT_TYPES = ["audio/wav", "text/html"]
    with pytest.raises(SystemCheckError, match=r"calls\.E001.*text/html"):
        call_command("check")
