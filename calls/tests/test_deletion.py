"""calls.deletion: keeping and deleting calls, and deletion that waits for a call's end."""

import os
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from calls import services
from calls.deletion import (
    CallIsKept,
    Deletion,
    delete_call,
    set_keep,
    sweep_ended_deletions,
    sweeper,
)
from calls.models import Call, Marker, MetadataField, MetadataValue
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def with_recording(call: Call) -> Call:
    call.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    return call


def ongoing(**fields) -> Call:
    return CallFactory(started_at=timezone.now() - timedelta(minutes=2), ended_at=None, **fields)


def test_keeping_a_call_marks_it_and_unmarking_clears_it_idempotently():
    call = CallFactory()

    set_keep(call.pk, True)
    set_keep(call.pk, True)
    assert Call.objects.get(pk=call.pk).keep is True

    set_keep(call.pk, False)
    assert Call.objects.get(pk=call.pk).keep is False


def test_keeping_writes_only_its_own_column():
    call = CallFactory(caller_name="Ada")
    stale = Call.objects.get(pk=call.pk)
    Call.objects.filter(pk=call.pk).update(caller_name="Grace")

    set_keep(stale.pk, True)

    call.refresh_from_db()
    assert (call.keep, call.caller_name) == (True, "Grace")


def test_deleting_an_ended_call_removes_row_markers_values_and_recording_file(
    django_capture_on_commit_callbacks,
):
    call = with_recording(CallFactory())
    path = call.recording.path
    Marker.objects.create(call=call, name="Sale", start_ms=0, end_ms=1000)
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    MetadataValue.objects.create(call=call, field=field, value="T-1")

    with django_capture_on_commit_callbacks(execute=True):
        assert delete_call(call.pk) is Deletion.DELETED

    assert not Call.objects.filter(pk=call.pk).exists()
    assert not Marker.objects.exists() and not MetadataValue.objects.exists()
    assert MetadataField.objects.exists()
    assert not os.path.exists(path)


def test_a_rolled_back_deletion_keeps_the_file():
    call = with_recording(CallFactory())
    path = call.recording.path

    # The commit hook never runs: the deletion's transaction (the test's) is rolled back.
    assert delete_call(call.pk) is Deletion.DELETED

    assert os.path.exists(path)


def test_a_kept_call_cannot_be_deleted_or_marked():
    finished, going = CallFactory(keep=True), ongoing(keep=True)

    for call in (finished, going):
        with pytest.raises(CallIsKept):
            delete_call(call.pk)
        stored = Call.objects.get(pk=call.pk)
        assert stored.delete_when_ended is False


def test_deleting_an_unknown_call_raises_does_not_exist():
    with pytest.raises(Call.DoesNotExist):
        delete_call(uuid.uuid4())


def test_an_ongoing_call_is_marked_and_stays_visible_until_it_ends():
    call = ongoing()

    assert delete_call(call.pk) is Deletion.SCHEDULED

    assert Call.objects.get(pk=call.pk).delete_when_ended is True


def test_the_write_that_ends_a_marked_call_deletes_it(django_capture_on_commit_callbacks):
    call = with_recording(ongoing())
    path = call.recording.path
    delete_call(call.pk)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.upsert_call(call.pk, {"ended_at": timezone.now()})

    assert result.deleted is True
    assert not Call.objects.filter(pk=call.pk).exists()
    assert not os.path.exists(path)


def test_a_write_that_does_not_end_a_marked_call_keeps_it():
    call = ongoing()
    delete_call(call.pk)

    result = services.upsert_call(call.pk, {"caller_name": "Someone else"})

    assert result.deleted is False
    assert Call.objects.get(pk=call.pk).delete_when_ended is True


def test_keeping_a_marked_call_cancels_its_deletion_through_keepcall_or_a_write():
    by_keepcall, by_write = ongoing(), ongoing()
    delete_call(by_keepcall.pk)
    delete_call(by_write.pk)

    set_keep(by_keepcall.pk, True)
    services.upsert_call(by_write.pk, {"keep": True})
    for call in (by_keepcall, by_write):
        services.upsert_call(call.pk, {"ended_at": timezone.now()})

    for call in (by_keepcall, by_write):
        stored = Call.objects.get(pk=call.pk)
        assert (stored.keep, stored.delete_when_ended) == (True, False)


def test_the_sweep_deletes_marked_calls_that_ended_without_the_service():
    now = timezone.now()
    ended_by_import, ends_later, lost_end, unmarked = ongoing(), ongoing(), ongoing(), CallFactory()
    for call in (ended_by_import, ends_later, lost_end):
        delete_call(call.pk)
    # Ends written around the service (a CSV import), or sent in advance.
    Call.objects.filter(pk=ended_by_import.pk).update(ended_at=now - timedelta(seconds=1))
    Call.objects.filter(pk=ends_later.pk).update(ended_at=now + timedelta(minutes=5))
    Call.objects.filter(pk=lost_end.pk).update(started_at=now - timedelta(hours=25))

    assert sweep_ended_deletions(now=now) == 2

    remaining = set(Call.objects.values_list("pk", flat=True))
    assert remaining == {ends_later.pk, unmarked.pk}
    assert sweep_ended_deletions(now=now + timedelta(minutes=6)) == 1


def test_the_sweep_command_runs_one_pass(capsys):
    call = ongoing()
    delete_call(call.pk)
    Call.objects.filter(pk=call.pk).update(ended_at=timezone.now())

    call_command("sweep_deletions")

    assert "Deleted 1 calls." in capsys.readouterr().out
    assert not Call.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_thread_deletes_an_ended_marked_call_on_its_own(settings):
    settings.DELETION_SWEEP_SECONDS = 0.05
    call = ongoing()
    delete_call(call.pk)  # starts this process's sweeper
    Call.objects.filter(pk=call.pk).update(ended_at=timezone.now())

    # Two passes: the first may have begun before the end was written.
    assert sweeper.wait_for_passes(2, timeout=10)

    assert not Call.objects.filter(pk=call.pk).exists()
    settings.DELETION_SWEEP_SECONDS = 0
    assert sweeper.wait_stopped(timeout=10)
