"""Keeping and deleting calls (KeepCall, DeleteCall), and deleting a call when it ends.

- A deleted call takes its recording with it: the row goes in the transaction, the file in
  that transaction's commit hook. A rolled-back deletion keeps its file, and no row ever
  points to a file that is gone. (A file the storage refuses to delete after the commit is
  logged and left behind: space wasted, nothing lost.)
- DeleteCall on a call that has not ended marks it (`delete_when_ended`). The write that
  ends it deletes it (calls.services.upsert_call calls `delete_if_due` under its lock), and
  a sweep, run by one thread per server process every DELETION_SWEEP_SECONDS, catches the
  ends written any other way: a CSV import, an end that was sent in advance and has now
  passed, or a call that never got its end within MAX_CALL_LENGTH_HOURS.
- Every change locks the call's row first, so concurrent KeepCall, DeleteCall and writes of
  the call serialise instead of overwriting each other, and each writes only its own columns.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.core.files.storage import Storage
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from calls.models import Call
from calls.states import State, call_state, state_q
from recordings.encoded import delete_recording

logger = logging.getLogger(__name__)

# Calls deleted per sweep transaction; a large backlog is worked off over several passes.
SWEEP_BATCH = 200


class CallIsKept(Exception):
    """The call is kept (`keep`, Verba's do_not_delete): it cannot be deleted or marked."""


class Deletion(StrEnum):
    DELETED = "deleted"
    # The call has not ended: it is deleted when it does.
    SCHEDULED = "scheduled"


def has_ended(call: Call, now: datetime | None = None) -> bool:
    """Whether the call is over, so that a deletion takes effect at once.

    Over: its end has passed, or it has had no end for longer than MAX_CALL_LENGTH_HOURS
    (its "call ended" event was lost; GetCallURL no longer counts it as ongoing either).
    """
    return call_state(call, now) in _ENDED


# "Over" in calls.states' words: finished, or no end recorded.
_ENDED = (State.FINISHED, State.NO_END)


def set_keep(call_id: uuid.UUID, keep: bool) -> Call:
    """Keep the call (never delete it), or clear that mark. Keeping cancels a pending
    deletion. Idempotent. Raises Call.DoesNotExist when the call is gone."""
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        changed = []
        if call.keep != keep:
            call.keep = keep
            changed.append("keep")
        if keep and call.delete_when_ended:
            call.delete_when_ended = False
            changed.append("delete_when_ended")
        if changed:
            call.save(update_fields=[*changed, "updated_at"])
    return call


def delete_call(call_id: uuid.UUID, *, now: datetime | None = None) -> Deletion:
    """Delete the call and its recording, or mark it for deletion when it has not ended.

    Raises CallIsKept for a kept call (nothing changes) and Call.DoesNotExist when the call
    is gone.
    """
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.keep:
            raise CallIsKept
        if has_ended(call, now):
            delete_locked(call)
            return Deletion.DELETED
        if not call.delete_when_ended:
            call.delete_when_ended = True
            call.save(update_fields=["delete_when_ended", "updated_at"])
    # This process sweeps from now on, whatever server it runs in (see `sweeper`).
    sweeper.start()
    return Deletion.SCHEDULED


def delete_calls_now(calls: QuerySet[Call]) -> int:
    """Delete these calls at once, kept or not, with their recordings (the admin's delete:
    an administrator's explicit choice). Returns how many were deleted."""
    with transaction.atomic():
        locked = list(calls.select_for_update())
        for call in locked:
            delete_locked(call)
    return len(locked)


def delete_if_due(call: Call, *, now: datetime | None = None) -> bool:
    """Delete a call marked for deletion once it has ended; True when deleted.

    For writers that hold the call's row lock in their own transaction (the write that
    ends the call).
    """
    if call.delete_when_ended and not call.keep and has_ended(call, now):
        delete_locked(call)
        return True
    return False


def delete_locked(call: Call) -> None:
    """Delete a call whose row the caller has locked; its file goes when the caller commits."""
    name = call.recording.name if call.recording else ""
    storage = call.recording.storage
    call_id = call.pk
    call.delete()
    # Keep the id on the object: callers answer and audit with it.
    call.pk = call_id
    if name:
        transaction.on_commit(lambda: _delete_file(storage, name, call_id), robust=True)


def _delete_file(storage: Storage, name: str, call_id: uuid.UUID) -> None:
    try:
        delete_recording(storage, name)
    except OSError:
        logger.warning("Could not delete the recording %s of deleted call %s", name, call_id)


def sweep_ended_deletions(*, now: datetime | None = None) -> int:
    """Delete every marked call that has ended; returns how many were deleted."""
    now = now or timezone.now()
    due = state_q(State.FINISHED, now) | state_q(State.NO_END, now)
    deleted = 0
    while True:
        with transaction.atomic():
            # skip_locked: a call being written right now is left to that writer (whose
            # write deletes it if it ends it) or to the next pass.
            batch = list(
                Call.objects.select_for_update(skip_locked=True)
                .filter(due, delete_when_ended=True, keep=False)
                .order_by("ended_at")[:SWEEP_BATCH]
            )
            for call in batch:
                delete_locked(call)
        deleted += len(batch)
        if len(batch) < SWEEP_BATCH:
            return deleted


class Sweeper:
    """One thread per process that runs `sweep_ended_deletions` every
    DELETION_SWEEP_SECONDS. Started by gunicorn's worker hook and by every DeleteCall that
    marks a call; starting it again is harmless."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passes = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.completed = 0

    def start(self) -> None:
        if settings.DELETION_SWEEP_SECONDS <= 0:
            return
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits the object but not the thread.
                self._pid = os.getpid()
                self._thread = None
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="deletion-sweeper", daemon=True)
            self._thread.start()

    def wait_for_passes(self, count: int, timeout: float) -> bool:
        """Wait until `count` more passes have completed (tests); False on timeout."""
        with self._passes:
            target = self.completed + count
            return self._passes.wait_for(lambda: self.completed >= target, timeout)

    def wait_stopped(self, timeout: float) -> bool:
        """Wait for the thread to end once DELETION_SWEEP_SECONDS is 0 (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        stop = threading.Event()
        while settings.DELETION_SWEEP_SECONDS > 0:
            try:
                deleted = sweep_ended_deletions()
                if deleted:
                    logger.info("Deleted %d calls whose deletion waited for their end", deleted)
            except DatabaseError as exc:
                logger.warning("Deletion sweep failed (%s); retrying", type(exc).__name__)
            except Exception:
                # The thread must outlive any error, or marked calls would stay forever.
                logger.exception("Deletion sweep failed; retrying")
            finally:
                # No connection is held between passes.
                connections.close_all()
            with self._passes:
                self.completed += 1
                self._passes.notify_all()
            stop.wait(max(settings.DELETION_SWEEP_SECONDS, 0))


sweeper = Sweeper()
