"""What the calls domain tells the rooms above it, so that it never imports them.

- `call_written(call=...)`: sent after the transaction that wrote a call has committed
  (calls.services). The long poll (longpoll.watcher) listens, to release the waiters in
  this process at once; waiters elsewhere find the call by their watcher's own look.
- `calls_changed(changes=[Changed, ...])`: sent INSIDE the transaction that changes calls,
  by every write of the domain (services, deletion, markers, metadata, the admin), before
  it commits. A receiver's rows commit or roll back with the change (the webhooks outbox
  writes its messages so); a receiver that raises rolls the change back. Receivers must be
  quick: the call's row lock is held. Batches (the CSV import, retention) send one signal
  for many calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from django.dispatch import Signal

if TYPE_CHECKING:
    from calls.models import Call

call_written = Signal()
calls_changed = Signal()


class Change(StrEnum):
    STARTED = "started"  # created in progress (no end)
    ENDED = "ended"  # got its end, or was created with one
    RECORDING_READY = "recording_ready"  # a recording stored or replaced
    UPDATED = "updated"  # any other change: fields, keep, metadata, markers, recording removed
    DELETED = "deleted"


@dataclass(frozen=True)
class Changed:
    call_id: uuid.UUID
    change: Change
    # The call as written (for DELETED: as it was just before). None in batches: a receiver
    # reads it in the same transaction if it needs it.
    call: Call | None = None
    # DELETED only: the deletion ledger's reason (`DeleteCall`, `admin`, `retention:<rule>`,
    # `default`) and who asked (a user or key name; empty for retention).
    reason: str = ""
    by: str = ""
    # DELETED: the ledger's `deleted_at`, so that both say the same moment.
    at: datetime | None = None


def changed(call: Call, change: Change, *, reason: str = "", by: str = "") -> None:
    """Announce one change of `call` inside the transaction that makes it."""
    calls_changed.send(
        sender=Changed, changes=(Changed(call.pk, change, call, reason=reason, by=by),)
    )


def changed_many(changes: Iterable[Changed]) -> None:
    """Announce many changes at once (a batch), inside the transaction that makes them."""
    batch = tuple(changes)
    if batch:
        calls_changed.send(sender=Changed, changes=batch)


def written(call: Call, *, created: bool, was_open: bool) -> Change:
    """What a write of the call's fields was: STARTED or ENDED for a new call, ENDED when it
    gave an open call its end, UPDATED otherwise."""
    if created:
        return Change.STARTED if call.ended_at is None else Change.ENDED
    if was_open and call.ended_at is not None:
        return Change.ENDED
    return Change.UPDATED
