"""A deleted call's recording file goes after the commit; a file the storage refuses stays
queued, visible in the admin, and is retried on every run until it is gone."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.test import Client

from calls.deletion import delete_call
from calls.models import Call
from calls.services import store_recording
from calls.tests.factories import CallFactory
from purge.run import run_once
from purge.tests.helpers import audio, ended_days_ago, files_under, sha256
from retention.models import DeletionEntry, PendingFileDeletion

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def refusing_storage(monkeypatch):
    """The storage refuses to delete, as a read-only disk does, until `heal()`."""
    refused: list[str] = []

    def refuse(self, name):
        refused.append(name)
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)

    def heal():
        monkeypatch.undo()

    return heal


def test_a_refused_file_stays_queued_visible_in_the_admin_and_goes_on_a_later_run(
    refusing_storage, media_root, admin_user, django_capture_on_commit_callbacks
):
    call = ended_days_ago(1)
    path = media_root / call.recording.name

    with django_capture_on_commit_callbacks(execute=True):
        delete_call(call.pk, by="crm")

    queued = PendingFileDeletion.objects.get()
    assert not Call.objects.filter(pk=call.pk).exists() and path.exists()
    assert (queued.name, queued.attempts) == (call.recording.name, 1)
    assert "Read-only file system" in queued.last_error
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/retention/pendingfiledeletion/").content.decode()
    assert call.recording.name in page and "Read-only file system" in page

    assert run_once().files_left == 1
    assert PendingFileDeletion.objects.get().attempts == 2

    refusing_storage()
    report = run_once()

    assert (report.files_removed, report.files_left) == (1, 0)
    assert not path.exists() and not PendingFileDeletion.objects.exists()


def test_a_queued_file_whose_name_a_call_uses_again_is_not_removed(media_root):
    call = ended_days_ago(1)
    name = call.recording.name
    # The queue entry of an earlier deletion of a call with this id, never worked off.
    PendingFileDeletion.objects.create(name=name, call=call.pk, queued_at=call.ended_at)

    run_once()

    assert (media_root / name).exists() and not PendingFileDeletion.objects.exists()


def test_every_stored_recording_gets_its_sha256_and_a_replaced_one_gets_the_new_digest():
    call = CallFactory()
    store_recording(call, io.BytesIO(audio("one")), "audio/wav")
    call.refresh_from_db()
    assert call.recording_sha256 == sha256(audio("one"))

    store_recording(call, io.BytesIO(audio("two")), "audio/wav")
    call.refresh_from_db()
    assert call.recording_sha256 == sha256(audio("two"))


def test_the_backfill_command_hashes_recordings_stored_before_digests_existed(media_root):
    with_digest = ended_days_ago(1)
    without = ended_days_ago(1)
    Call.objects.filter(pk=without.pk).update(recording_sha256="")
    missing_file = ended_days_ago(1)
    Call.objects.filter(pk=missing_file.pk).update(recording_sha256="")
    os.remove(media_root / missing_file.recording.name)
    out = io.StringIO()

    call_command("hash_recordings", stdout=out)

    digests = dict(Call.objects.values_list("pk", "recording_sha256"))
    assert digests[without.pk] == sha256(audio(str(without.pk)))
    assert digests[with_digest.pk] == sha256(audio(str(with_digest.pk)))
    assert digests[missing_file.pk] == ""
    assert "Hashed 1 recording" in out.getvalue() and "1 file could not be read" in out.getvalue()


def test_deleting_a_call_without_a_recording_queues_no_file(django_capture_on_commit_callbacks):
    call = ended_days_ago(1, recording=False)

    with django_capture_on_commit_callbacks(execute=True):
        delete_call(call.pk)

    assert not PendingFileDeletion.objects.exists()
    assert DeletionEntry.objects.get().recording_sha256 == ""


def test_a_retention_run_leaves_no_file_of_a_deleted_call(
    settings, media_root, django_capture_on_commit_callbacks
):
    settings.RETENTION_DEFAULT_DAYS = 1
    gone = [ended_days_ago(5) for _ in range(5)]
    kept = [ended_days_ago(0.5) for _ in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        run_once(batch_size=2)

    assert files_under(media_root) == {c.recording.name for c in kept}
    assert DeletionEntry.objects.count() == len(gone)


def test_a_crash_after_the_commit_before_the_files_go_leaves_them_queued_for_the_next_run(
    settings, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    settings.RETENTION_DEFAULT_DAYS = 1
    calls = [ended_days_ago(5) for _ in range(3)]
    # The process dies right after the commit: the files' removal never starts.
    monkeypatch.setattr("calls.deletion.remove_files", lambda entries: 0)
    with django_capture_on_commit_callbacks(execute=True):
        run_once()
    assert PendingFileDeletion.objects.count() == 3
    assert files_under(media_root) == {c.recording.name for c in calls}

    monkeypatch.undo()
    report = run_once()

    assert (report.files_removed, report.files_left) == (3, 0)
    assert files_under(media_root) == set()
