"""Recordings in the call admin: uploads are checked like every other, and stored by the one
service that writes recordings.

Transactional: the admin stores an upload once its own transaction has committed the call
(while the request, and so the uploaded file, is still open), as it does in production.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from calls.models import Call
from calls.tests.factories import CallFactory
from calls.tests.test_admin_calls import no_inline_forms
from calls.tests.test_recording_store import HTML, MP3, stored_files
from retention.services import create_hold
from staff.tests.test_recordings import wav_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def change_url(call: Call) -> str:
    return reverse("admin:calls_call_change", args=[call.pk])


def form_data(call: Call, **extra) -> dict:
    start = timezone.localtime(call.started_at)
    end = timezone.localtime(call.ended_at)
    return {
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "called_number": call.called_number,
        "called_name": call.called_name,
        "direction": call.direction,
        "started_at_0": start.strftime("%Y-%m-%d"),
        "started_at_1": start.strftime("%H:%M:%S"),
        "ended_at_0": end.strftime("%Y-%m-%d"),
        "ended_at_1": end.strftime("%H:%M:%S"),
        "native_id": call.native_id,
        "platform_call_id": call.platform_call_id,
        **no_inline_forms(),
        **extra,
    }


def upload(admin_client, call, name, content, content_type):
    return admin_client.post(
        change_url(call),
        form_data(call, new_recording=SimpleUploadedFile(name, content, content_type)),
    )


def test_the_content_type_is_not_a_free_text_field(admin_client):
    call = CallFactory()

    page = admin_client.get(change_url(call)).content.decode()

    inputs = re.findall(r'name="([a-z_]+)"', page)
    assert "recording_content_type" not in inputs
    assert "recording" not in inputs
    assert "new_recording" in inputs


@pytest.mark.parametrize(
    ("name", "content", "content_type", "reason"),
    [
        ("page.html", HTML, "text/html", "A recording must be sent as one of: audio/wav"),
        ("call.wav", HTML, "audio/wav", "The content is not audio/wav audio"),
        ("call.mp3", wav_bytes(), "audio/mpeg", "The content is not audio/mpeg audio"),
    ],
    ids=["html-as-html", "html-as-wav", "wav-as-mp3"],
)
def test_an_upload_that_is_not_allowed_audio_is_refused_on_the_form(
    admin_client,
    media_root,
    name,
    content,
    content_type,
    reason,
):
    call = CallFactory()

    response = upload(admin_client, call, name, content, content_type)

    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not Call.objects.get(pk=call.pk).recording
    assert stored_files(media_root) == []


def test_an_upload_over_the_size_limit_is_refused_on_the_form(admin_client, settings, media_root):
    settings.RECORDING_MAX_BYTES = 1000
    call = CallFactory()

    response = upload(admin_client, call, "call.wav", wav_bytes(), "audio/wav")

    assert response.status_code == 200
    assert "A recording may be at most 1000 bytes" in response.content.decode()
    assert stored_files(media_root) == []


def test_an_audio_upload_is_stored_with_its_checked_type_and_replaces_the_old_file(
    admin_client, media_root
):
    call = CallFactory()
    upload(admin_client, call, "call.wav", wav_bytes(), "audio/wav")
    first = Call.objects.get(pk=call.pk).recording.name

    response = upload(admin_client, call, "call.mp3", MP3, "audio/mpeg")

    assert response.status_code == 302
    row = Call.objects.get(pk=call.pk)
    assert row.recording_content_type == "audio/mpeg"
    assert row.recording.name != first
    assert stored_files(media_root) == [row.recording.name]
    page = admin_client.get(change_url(call)).content.decode()
    assert f'href="/calls/{call.pk}/download"' in page
    assert "(audio/mpeg)" in page


def test_removing_the_recording_deletes_its_file(admin_client, media_root):
    call = CallFactory()
    upload(admin_client, call, "call.wav", wav_bytes(), "audio/wav")

    response = admin_client.post(change_url(call), form_data(call, remove_recording="on"))

    assert response.status_code == 302
    row = Call.objects.get(pk=call.pk)
    assert not row.recording
    assert row.recording_content_type == ""
    assert stored_files(media_root) == []


def test_a_new_call_can_be_added_with_its_recording(admin_client, media_root):
    template = CallFactory.build()
    call_id = "0b4c6f3e-3d2a-4a6b-9a1e-5f7c2d9e8a10"

    response = admin_client.post(
        reverse("admin:calls_call_add"),
        form_data(
            template,
            id=call_id,
            new_recording=SimpleUploadedFile("call.wav", wav_bytes(), "audio/wav"),
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    row = Call.objects.get(pk=call_id)
    assert row.recording_content_type == "audio/wav"
    assert stored_files(media_root) == [row.recording.name]


def test_the_admin_refuses_to_replace_the_recording_of_a_held_call(admin_client, media_root):
    call = CallFactory()
    upload(admin_client, call, "call.wav", wav_bytes(), "audio/wav")
    kept = Call.objects.get(pk=call.pk).recording.name
    create_hold("Case 7", reason="Smith v. Acme", by="counsel", call_ids=[call.pk])

    response = upload(admin_client, call, "call.mp3", MP3, "audio/mpeg")

    assert response.status_code == 200
    assert "The call is under legal hold." in response.content.decode()
    assert Call.objects.get(pk=call.pk).recording.name == kept
    assert stored_files(media_root) == [kept]


# --- A full or read-only media disk (issue 19, item 4) --------------------------------------


def messages_on(page: str) -> str:
    return " ".join(re.findall(r'<li class="(?:error|success)">(.*?)</li>', page, re.S))


@pytest.mark.parametrize(
    ("error", "reason"), [("ENOSPC", "No space left on device"), ("EROFS", "Read-only file system")]
)
def test_an_upload_the_storage_refuses_is_explained_on_the_calls_page_and_leaves_no_file(
    admin_client, media_root, full_disk, error, reason
):
    import errno

    full_disk["error"] = getattr(errno, error)
    call = CallFactory()

    response = upload(admin_client, call, "call.wav", wav_bytes(), "audio/wav")

    # Back on the call's own page, to try again, with the storage's answer.
    assert response.status_code == 302
    assert response["Location"] == change_url(call)
    shown = messages_on(admin_client.get(change_url(call)).content.decode())
    assert "its recording was not stored" in shown
    assert f"The recordings storage cannot take the file now ({reason})" in shown
    assert not Call.objects.get(pk=call.pk).recording
    assert stored_files(media_root) == []


def test_a_new_call_whose_recording_the_storage_refuses_is_added_without_it(
    admin_client, media_root, full_disk
):
    template = CallFactory.build()
    call_id = "0b4c6f3e-3d2a-4a6b-9a1e-5f7c2d9e8a11"

    response = admin_client.post(
        reverse("admin:calls_call_add"),
        form_data(
            template,
            id=call_id,
            new_recording=SimpleUploadedFile("call.wav", wav_bytes(), "audio/wav"),
        ),
    )

    row = Call.objects.get(pk=call_id)
    assert response.status_code == 302
    assert response["Location"] == change_url(row)
    shown = messages_on(admin_client.get(change_url(row)).content.decode())
    assert "The recordings storage cannot take the file now" in shown
    assert not row.recording
    assert stored_files(media_root) == []

    full_disk["full"] = False  # space is back: the same upload works
    assert upload(admin_client, row, "call.wav", wav_bytes(), "audio/wav").status_code == 302
    assert stored_files(media_root) == [Call.objects.get(pk=call_id).recording.name]
