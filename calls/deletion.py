"""Keeping and deleting calls: KeepCall, DeleteCall, the admin's delete, deleting a call
when it ends, and retention's batches (the `purge` room decides what is due).

Every path deletes through `_delete_rows`, which in one transaction:
- refuses nothing itself: each path first leaves out kept calls where the contract says so,
  and every path leaves out calls under an active legal hold (retention.conditions), read
  with the call rows locked and the holds fixed until the deletion commits
  (retention.selectors.active_holds_fixed): a hold saved before the deletion commits
  protects its calls, a KeepCall waits for the row;
- writes one deletion ledger entry per call (retention.models.DeletionEntry: the id, the
  start day, when, why, by whom, the recording's SHA-256; nothing else) and queues each
  recording file for removal (retention.models.PendingFileDeletion), both copied from the
  rows by the database (INSERT ... SELECT), set-based for retention's batches;
- deletes the rows (with their markers and metadata values), one statement per table;
- announces each deletion (calls.signals.calls_changed: the webhooks outbox writes its
  `call.deleted` events in the same transaction).
After the commit the files are removed and their queue entries with them. So a crash
(kill -9) at any moment leaves either the row with its file, or no row and a queued file,
which the next retention run removes (`work_off_files`); a file the storage refuses to
remove stays queued, visible in the admin, and is tried again on every run.

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
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage
from django.db import models, transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.utils import timezone

from access_log.models import Kind
from access_log.services import SYSTEM, record_calls
from calls import signals
from calls.models import Call
from calls.states import State, call_state, state_q
from recordings.encoded import delete_recording
from retention import conditions, selectors
from retention.models import PendingFileDeletion
from retention.services import ADMIN, DELETE_CALL, record_deletions
from shared.bulk import delete_by_ids, uuid_set
from shared.periodic import PeriodicJob

logger = logging.getLogger(__name__)

# Calls deleted per sweep transaction; a large backlog is worked off over several passes.
SWEEP_BATCH = 200
# Queued files removed per round (one query for their calls, one delete of their entries).
FILE_BATCH = 500
# Files removed at once (see remove_files).
FILE_THREADS = 4


class CallIsKept(Exception):
    """The call is kept (`keep`, Verba's do_not_delete): it cannot be deleted or marked."""


class CallIsHeld(Exception):
    """The call is under an active legal hold: no path may delete it."""


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


def held(calls: QuerySet[Call], *, fixed: bool = False) -> QuerySet[Call]:
    """Those of `calls` under an active legal hold. `fixed`: for a deletion or a
    replacement about to be written, the holds then stay as read until the caller's
    transaction ends (retention.selectors.active_holds_fixed)."""
    holds = selectors.active_holds_fixed() if fixed else selectors.active_holds()
    if not holds:
        return calls.none()
    return calls.filter(conditions.held_q(holds))


def holds_of(call: Call) -> list[str]:
    """The names of the active holds that hold this call."""
    one = Call.objects.filter(pk=call.pk)
    return [h.name for h in selectors.active_holds() if one.filter(conditions.hold_q(h)).exists()]


def is_held(call_id: uuid.UUID, *, fixed: bool = False) -> bool:
    return held(Call.objects.filter(pk=call_id), fixed=fixed).exists()


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
            if "keep" in changed:
                signals.changed(call, signals.Change.UPDATED)
    return call


def delete_call(call_id: uuid.UUID, *, by: str = "", now: datetime | None = None) -> Deletion:
    """DeleteCall: delete the call and its recording, or mark it for deletion when it has
    not ended. `by`: the user or key asking (for the ledger).

    Raises CallIsKept for a kept call, CallIsHeld for a held one (nothing changes either
    way), and Call.DoesNotExist when the call is gone.
    """
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=call_id)
        if call.keep:
            raise CallIsKept
        if is_held(call.pk, fixed=True):
            raise CallIsHeld
        if has_ended(call, now):
            delete_locked(call, reason=DELETE_CALL, by=by)
            return Deletion.DELETED
        if not call.delete_when_ended:
            call.delete_when_ended = True
            call.delete_requested_by = by
            call.save(update_fields=["delete_when_ended", "delete_requested_by", "updated_at"])
    # This process sweeps from now on, whatever server it runs in (see `sweeper`).
    sweeper.start()
    return Deletion.SCHEDULED


def delete_calls_now(calls: QuerySet[Call], *, by: str = "") -> int:
    """Delete these calls at once, kept or not, with their recordings (the admin's delete:
    an administrator's explicit choice). Returns how many were deleted.

    Raises CallIsHeld, deleting none of them, when any is under legal hold.
    """
    with transaction.atomic():
        locked = list(calls.select_for_update().values_list("pk", flat=True))
        if held(Call.objects.filter(pk__in=locked), fixed=True).exists():
            raise CallIsHeld
        _delete_rows(locked, reason=ADMIN, by=by)
    return len(locked)


def delete_if_due(call: Call, *, now: datetime | None = None) -> bool:
    """Delete a call marked for deletion once it has ended; True when deleted.

    For writers that hold the call's row lock in their own transaction (the write that
    ends the call). A call placed under hold after it was marked stays.
    """
    if (
        call.delete_when_ended
        and not call.keep
        and has_ended(call, now)
        and not is_held(call.pk, fixed=True)
    ):
        delete_locked(call, reason=DELETE_CALL, by=call.delete_requested_by)
        return True
    return False


def delete_locked(call: Call, *, reason: str, by: str) -> None:
    """Delete a call whose row the caller has locked; its file goes when the caller commits."""
    _delete_rows([call.pk], reason=reason, by=by)


@dataclass(frozen=True)
class Batch:
    """What one retention batch did."""

    chosen: int  # due calls picked (not exempt when picked, not being written)
    deleted: int  # of those, the calls deleted (a hold saved meanwhile spares the rest)
    last_started: datetime | None  # the latest start picked: where the next batch begins


def purge_batch(
    due: Q,
    *,
    reason: str,
    size: int,
    after: datetime | None = None,
    before_delete: Callable[[], None] | None = None,
) -> Batch:
    """Delete up to `size` calls matching `due` that are neither kept nor held, oldest
    first, in one transaction. For retention runs (purge.run), set-based: one statement
    picks the batch, one re-checks the exemptions, and each table is written once.

    `after`: only calls started at or after it (the previous batch's `last_started`), so
    that each batch's index walk starts where the last one ended instead of crossing the
    entries of the rows deleted before. `before_delete`: called between picking and
    deleting (tests place a hold there)."""
    condition = due & conditions.subject_q(selectors.active_holds())
    if after is not None:
        condition &= Q(started_at__gte=after)
    with transaction.atomic():
        # skip_locked: a call being written right now is left to the next batch or run.
        chosen = list(
            Call.objects.select_for_update(skip_locked=True)
            .filter(condition)
            .order_by("started_at")
            .values_list("id", "started_at")[:size]
        )
        if not chosen:
            return Batch(0, 0, None)
        if before_delete is not None:
            before_delete()
        ids = _deletable([pk for pk, _ in chosen])
        if ids:
            # The access log's `delete` events, committed with the deletion (access.md §4).
            record_calls(
                Kind.DELETE,
                SYSTEM,
                Call.objects.filter(pk__in=uuid_set(ids)),
                detail={"reason": reason},
            )
            _delete_rows(ids, reason=reason, by="")
    return Batch(len(chosen), len(ids), chosen[-1][1])


def _deletable(locked: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of the `locked` calls that no exemption protects now: not kept (KeepCall
    waits for the row lock), and not held by any hold committed before this moment (the
    holds then stay fixed until the caller commits: a hold saved while the batch was being
    picked protects its calls from this very batch)."""
    subject = conditions.subject_q(selectors.active_holds_fixed())
    return list(
        Call.objects.filter(pk__in=uuid_set(locked)).filter(subject).values_list("pk", flat=True)
    )


def _delete_rows(ids: Sequence[uuid.UUID], *, reason: str, by: str) -> None:
    """Delete locked calls, write their ledger entries and queue their files, in the
    caller's transaction; the files go after it commits.

    Set-based, without the ORM's delete collector (which reads every row again as a model
    instance): the ledger entries and file queue entries are copied from the rows by the
    database, then the rows that point to the calls go, one statement per kind (all of them
    cascade, as the models declare), then the calls."""
    if not ids:
        return
    ids = list(ids)
    now = timezone.now()
    # Announced before the rows go (the webhooks outbox writes call.deleted, in this
    # transaction, reading the calls as they were).
    signals.changed_many(
        signals.Changed(pk, signals.Change.DELETED, reason=reason, by=by, at=now) for pk in ids
    )
    batch = uuid_set(ids)  # written once, sent by each statement below
    queued = record_deletions(
        Call.objects.filter(pk__in=batch), reason=reason, by=by, deleted_at=now
    )
    for relation in _cascades():
        relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": batch}
        ).delete()
    delete_by_ids(Call, ids)
    if queued:
        transaction.on_commit(
            lambda: remove_files(list(PendingFileDeletion.objects.filter(call__in=batch))),
            robust=True,
        )


@cache
def _cascades() -> list[Any]:
    """The relations whose rows go with a call (read once the models are all loaded)."""
    relations = [r for r in Call._meta.related_objects if r.on_delete is not None]
    others = [r for r in relations if r.on_delete is not models.CASCADE]
    if others:
        # It would need the collector's handling (protect, set null): say so at once.
        raise RuntimeError(f"calls.deletion deletes only cascading relations, not {others}")
    return relations


def remove_files(entries: Sequence[PendingFileDeletion]) -> int:
    """Remove the queued files from storage and their queue entries; returns how many went.

    A file still named by a call is not removed (its id was used again and a new recording
    stored under the same name): only its entry goes. A file the storage refuses stays
    queued, with the error, for the next run.
    """
    if not entries:
        return 0
    storage = Call._meta.get_field("recording").storage
    in_use = set(
        Call.objects.filter(pk__in=uuid_set({e.call for e in entries})).values_list(
            "pk", "recording"
        )
    )
    done: list[int] = []
    now = timezone.now()
    removing = [e for e in entries if (e.call, e.name) not in in_use]
    done.extend(e.pk for e in entries if (e.call, e.name) in in_use)
    # Several at once: removing a file that has been on disk a while costs a filesystem
    # journal wait, and concurrent removals share those waits. The whole purge of
    # bench/retention.py's 100,000 calls with files, by the command alone, took 50 s with
    # one thread, 33 with two, 27–35 with four and 37 with eight; eight used a third more
    # CPU than four, switching between threads: CPU that requests on the machine lack.
    # Under gevent (a server's own run) the threads are greenlets. One task per thread,
    # each taking every FILE_THREADS-th file: a future per file cost more CPU than the
    # removal itself.
    names = [e.name for e in removing]
    shares = [names[i::FILE_THREADS] for i in range(FILE_THREADS)]
    refusals: list[Exception | None] = [None] * len(names)
    with ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="file-removal") as pool:
        for i, share in enumerate(pool.map(partial(_remove_files, storage), shares)):
            refusals[i::FILE_THREADS] = share
    for entry, exc in zip(removing, refusals, strict=True):
        if exc is None:
            done.append(entry.pk)
            continue
        # Any storage (local disk, S3) may refuse; the entry stays for the next run.
        logger.warning(
            "Could not remove the recording %s of deleted call %s (%s); retried on "
            "the next retention run",
            entry.name,
            entry.call,
            type(exc).__name__,
        )
        PendingFileDeletion.objects.filter(pk=entry.pk).update(
            attempts=entry.attempts + 1,
            last_attempt_at=now,
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
        )
    PendingFileDeletion.objects.filter(pk__in=done).delete()
    return len(done)


def _remove_files(storage: Storage, names: list[str]) -> list[Exception | None]:
    """Remove these recordings (and their transcoded copies), one after another; for each,
    what the storage raised if it refused."""
    refusals: list[Exception | None] = []
    for name in names:
        try:
            delete_recording(storage, name)
        except Exception as exc:
            refusals.append(exc)
        else:
            refusals.append(None)
    return refusals


def work_off_files() -> int:
    """Remove every file queued so far (left by a crash or refused by the storage);
    returns how many went. Each entry is tried once per call."""
    last = PendingFileDeletion.objects.order_by("-id").values_list("id", flat=True).first()
    if last is None:
        return 0
    removed = 0
    after = 0
    while True:
        entries = list(
            PendingFileDeletion.objects.filter(id__gt=after, id__lte=last).order_by("id")[
                :FILE_BATCH
            ]
        )
        if not entries:
            return removed
        removed += remove_files(entries)
        after = entries[-1].pk


def files_left() -> int:
    return PendingFileDeletion.objects.count()


def sweep_ended_deletions(*, now: datetime | None = None) -> int:
    """Delete every marked call that has ended; returns how many were deleted."""
    now = now or timezone.now()
    due = state_q(State.FINISHED, now) | state_q(State.NO_END, now)
    deleted = 0
    while True:
        subject = conditions.subject_q(selectors.active_holds())
        with transaction.atomic():
            # skip_locked: a call being written right now is left to that writer (whose
            # write deletes it if it ends it) or to the next pass.
            batch = list(
                Call.objects.select_for_update(skip_locked=True)
                .filter(due & subject, delete_when_ended=True)
                .order_by("ended_at")
                .values_list("pk", "delete_requested_by")[:SWEEP_BATCH]
            )
            deletable = set(_deletable([pk for pk, _ in batch]))
            # The ledger names who asked (as DeleteCall): one deletion per asker.
            askers: dict[str, list[uuid.UUID]] = {}
            for pk, by in batch:
                if pk in deletable:
                    askers.setdefault(by, []).append(pk)
            for by, ids in askers.items():
                _delete_rows(ids, reason=DELETE_CALL, by=by)
        deleted += len(deletable)
        if len(batch) < SWEEP_BATCH:
            return deleted


def fate(call: Call, now: datetime | None = None) -> str:
    """When this call will be deleted and by which rule, or why it will not be: the
    sentence the call's admin page shows."""
    now = now or timezone.now()
    if call.keep:
        return "Kept (KeepCall): never deleted automatically."
    holds = holds_of(call)
    if holds:
        return f"Under legal hold ({', '.join(holds)}): deleted by no path while held."
    if call.delete_when_ended and not has_ended(call, now):
        return "DeleteCall asked for its deletion: it is deleted when it ends."
    if call.ended_at is None or call.ended_at > now:
        return "In progress (or no end recorded): retention counts from its end."
    steps = conditions.plan(selectors.rules(), conditions.default_days())
    index = _governing_step(call, steps)
    step = steps[index]
    if step.keep_days is None:
        return "No retention rule matches and RETENTION_DEFAULT_DAYS is unset: kept for ever."
    by_rule = f"rule {step.rule.name}" if step.rule is not None else "RETENTION_DEFAULT_DAYS"
    due_at = call.ended_at + timedelta(days=step.keep_days)
    when = timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M")
    if due_at <= now:
        return (
            f"Due now under {by_rule} ({step.keep_days} days): the next retention run deletes it."
        )
    return (
        f"Deleted by the first retention run after {when}, under {by_rule} "
        f"({step.keep_days} days after its end)."
    )


def _governing_step(call: Call, steps: list[conditions.Step]) -> int:
    """Which step of the plan governs this call (one query)."""
    whens = []
    fallback = len(steps) - 1
    for index, step in enumerate(steps):
        if step.governs is conditions.NOTHING:
            continue
        if not step.governs:
            # An empty condition: every call the earlier steps left.
            fallback = index
            break
        whens.append(When(step.governs, then=Value(index)))
    if not whens:
        return fallback
    found = (
        Call.objects.filter(pk=call.pk)
        .annotate(step=Case(*whens, default=Value(fallback)))
        .values_list("step", flat=True)
        .first()
    )
    return fallback if found is None else found


def _sweep() -> None:
    deleted = sweep_ended_deletions()
    if deleted:
        logger.info("Deleted %d calls whose deletion waited for their end", deleted)


# Run by one thread per process every DELETION_SWEEP_SECONDS; started by gunicorn's worker
# hook and by every DeleteCall that marks a call.
sweeper = PeriodicJob(
    "deletion sweep", _sweep, interval=lambda: float(settings.DELETION_SWEEP_SECONDS)
)
