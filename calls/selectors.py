"""Finding calls for the Business API's GetCallURL (and the actions that share its lookup).

Independent of HTTP: every function takes plain values and returns calls. A result list
means: empty → nothing found, one call → the answer, two calls → ambiguous.

"The number is the caller or the called party" is never asked as one OR with an ORDER BY:
on a hot number that scans hundreds of thousands of rows. `last` runs one index scan per
column, `(caller_number, ended_at)` and `(called_number, ended_at)`, each LIMIT 2, and
merges the two short lists in Python (portable: SQLite cannot slice inside a UNION).
`ongoing` has no ORDER BY, so its OR is answered by the same two indexes (a BitmapOr on
PostgreSQL, a multi-index OR on SQLite) in one query. At most three queries per lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from django.db.models import Q
from django.utils import timezone

from calls.longpoll import wait_for_next
from calls.models import Call
from calls.states import end_to_come, no_end_yet


class Status(StrEnum):
    ONGOING = "ongoing"
    NEXT = "next"
    LAST = "last"


def call_by_id(call_id: uuid.UUID) -> Call | None:
    return Call.objects.filter(pk=call_id).first()


def ongoing_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """Calls in progress on `number` (at most two: enough to tell "one" from "several").

    In progress as calls.states defines it (the same Q, spelled out per number column).
    """
    now = now or timezone.now()
    # Spelled out as four arms (number column × end state), each of which one
    # (number, ended_at) index answers on its own: PostgreSQL ORs four short index scans
    # instead of reading every call of a hot number and filtering on ended_at.
    in_progress = Q()
    for column in ("caller_number", "called_number"):
        for state in (no_end_yet(now), end_to_come(now)):
            in_progress |= Q(**{column: number}) & state
    return list(Call.objects.filter(in_progress, started_at__lte=now)[:2])


def last_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """The finished call on `number` with the latest end, or two when that end is shared."""
    now = now or timezone.now()
    candidates: dict[uuid.UUID, Call] = {}
    for column in ("caller_number", "called_number"):
        rows = Call.objects.filter(**{column: number}, ended_at__lte=now).order_by("-ended_at")
        for call in rows[:2]:
            # A call from a number to itself shows up in both scans.
            candidates.setdefault(call.pk, call)
    ranked = sorted(candidates.values(), key=lambda call: call.ended_at, reverse=True)
    if len(ranked) >= 2 and ranked[0].ended_at == ranked[1].ended_at:
        return ranked[:2]
    return ranked[:1]


def next_calls(number: str, *, arrived_at: datetime) -> list[Call]:
    """Wait for the next call on `number` that starts after `arrived_at` (a long poll)."""
    return list(wait_for_next(number, arrived_at))[:2]


def calls_by_status(number: str, statuses: Sequence[Status], *, arrived_at: datetime) -> list[Call]:
    """Try `statuses` in order; the first that finds any call answers (one, or two = ambiguous)."""
    for status in statuses:
        if status is Status.ONGOING:
            found = ongoing_calls(number)
        elif status is Status.LAST:
            found = last_calls(number)
        else:
            found = next_calls(number, arrived_at=arrived_at)
        if found:
            return found
    return []


def calls_by_platform_call_id(platform_call_id: str) -> list[Call]:
    """Calls with exactly this platform call ID (case-sensitive); two mean ambiguous."""
    return list(Call.objects.filter(platform_call_id=platform_call_id)[:2])


def calls_by_native_id(native_id: str) -> list[Call]:
    """Calls with exactly this native ID (case-sensitive); two mean ambiguous."""
    return list(Call.objects.filter(native_id=native_id)[:2])
