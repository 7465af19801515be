"""Writing the access log: one event per access, committed before the content leaves.

Callers record an event before they hand back the content it is about: a read's event is
committed on its own at once (autocommit), so a server killed while the content is on the
wire has already kept it; a change's event is recorded inside the change's transaction, so
that both commit together or neither does.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    CharField,
    DateTimeField,
    F,
    GenericIPAddressField,
    JSONField,
    QuerySet,
    Value,
)
from django.utils import timezone

from access_log.models import CALLLESS_KINDS, AccessEvent, Kind, Surface
from shared.bulk import insert_from

# The range requests of one playback (same user, same call) within this time are one event.
PLAY_WINDOW = timedelta(minutes=10)
# How many old events one DELETE removes when pruning: short transactions on a large table.
PRUNE_BATCH = 5_000
# The first key of the PostgreSQL advisory locks that serialise "one playback" checks.
_PLAY_LOCK_CLASS = 0x41434C47  # "ACLG"


@dataclass(frozen=True)
class Actor:
    """Who accesses, from where: what every event of one request shares."""

    surface: Surface
    user: str = ""
    api_key: str = ""
    client: str | None = None


SYSTEM = Actor(surface=Surface.SYSTEM)


def record_access(
    kind: Kind,
    actor: Actor,
    *,
    call_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AccessEvent:
    """Record one event and return it.

    Outside a transaction the event is committed when this returns. Inside one (a change,
    a deletion) it commits with it: call it from the transaction that makes the change.
    """
    if (kind in CALLLESS_KINDS) != (call_id is None):
        raise ValueError(
            f"a {kind} event {'names no' if kind in CALLLESS_KINDS else 'needs a'} call"
        )
    return AccessEvent.objects.create(
        at=at or timezone.now(),
        kind=kind,
        call_id=call_id,
        user=actor.user or "",
        api_key=actor.api_key or "",
        surface=actor.surface,
        client=actor.client,
        detail=dict(detail or {}),
    )


def record_calls(
    kind: Kind,
    actor: Actor,
    calls: QuerySet[Any],
    *,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Record one event per call of `calls` (rows whose primary key is the call's id) in
    one statement: the same events `record_access` would write one by one, copied by the
    database (INSERT ... SELECT), so a retention batch's calls are never read into Python.
    Returns how many events were written."""
    if kind in CALLLESS_KINDS:
        raise ValueError(f"a {kind} event names no call")
    at = at or timezone.now()
    return insert_from(
        AccessEvent,
        {
            "at": Value(at, output_field=DateTimeField()),
            "kind": Value(str(kind), output_field=CharField()),
            "call_id": F("pk"),
            "user": Value(actor.user or "", output_field=CharField()),
            "api_key": Value(actor.api_key or "", output_field=CharField()),
            "surface": Value(str(actor.surface), output_field=CharField()),
            "client": Value(actor.client, output_field=GenericIPAddressField()),
            "detail": Value(dict(detail or {}), output_field=JSONField()),
        },
        calls,
    )


def record_play(
    actor: Actor, call_id: uuid.UUID, *, now: datetime | None = None
) -> AccessEvent | None:
    """A `play` event, unless this user's playback of this call already has one from the
    last PLAY_WINDOW (the player's range requests, seeking included, are one playback).

    Concurrent range requests of one playback are serialised by a lock per user and call,
    so that they record one event, not one each. Returns the new event, or None.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_playback(actor.user, call_id)
        playing = AccessEvent.objects.filter(
            call_id=call_id, kind=Kind.PLAY, user=actor.user, at__gt=now - PLAY_WINDOW
        ).exists()
        if playing:
            return None
        return record_access(Kind.PLAY, actor, call_id=call_id, at=now)


def _lock_playback(user: str, call_id: uuid.UUID) -> None:
    # SQLite runs every transaction as BEGIN IMMEDIATE (settings), which already serialises
    # writers; PostgreSQL needs a lock, held until the transaction ends.
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{user}\x00{call_id}".encode(), digest_size=4).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [_PLAY_LOCK_CLASS, int.from_bytes(digest, "big", signed=True)],
        )


def prune_access_log(before: datetime) -> int:
    """Delete the events older than `before`, in batches; returns how many.

    The only way events are ever removed (the admin cannot delete them).
    """
    removed = 0
    while True:
        batch = list(
            AccessEvent.objects.filter(at__lt=before)
            .order_by("at", "id")
            .values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not batch:
            return removed
        removed += AccessEvent.objects.filter(id__in=batch).delete()[0]
