"""Finding calls for the Business API's GetCallURL (and the actions that share its lookup).

Independent of HTTP: every function takes plain values and returns calls. A result list
means: empty → nothing found, one call → the answer, two calls → ambiguous.

"The number is the caller or the called party" is never asked as one OR with an ORDER BY:
on a hot number that scans hundreds of thousands of rows. `last` is one index scan per
column, `(caller_number, ended_at)` and `(called_number, ended_at)`, each LIMIT 2, merged
here. `ongoing` has no ORDER BY, so its OR is answered by the same two indexes (a BitmapOr
on PostgreSQL, a multi-index OR on SQLite).

These are the Business API's hot queries, so they are hand-written SQL (callportal/sql.py):
one round trip per lookup, whatever the statuses (`ongoing,last` asks both at once, as one
UNION ALL of short index scans, and the first status that found a call answers), with no
ORM compilation per request. tests/test_query_plans.py checks their plans on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from callportal.sql import ModelColumns, VendorSql, fetch
from calls.longpoll import wait_for_next
from calls.models import Call
from calls.states import max_call_length


class Status(StrEnum):
    ONGOING = "ongoing"
    NEXT = "next"
    LAST = "last"


CALL = ModelColumns(Call)


# The SQL below is assembled from quoted model names only; every value is a parameter.


def _call_by_id_sql(connection: BaseDatabaseWrapper) -> str:
    # The primary key is unique: no ORDER BY (which `.first()` would add), no LIMIT needed.
    qn = connection.ops.quote_name
    return f"SELECT {CALL.select_list(connection)} FROM {qn(CALL.table)} WHERE {qn('id')} = %s"


_CALL_BY_ID = VendorSql(_call_by_id_sql, "calls_call_by_id", prepare=True)


def call_by_id(call_id: uuid.UUID) -> Call | None:
    rows = fetch(connection, _CALL_BY_ID, [CALL.value("id", call_id, connection)])
    found = CALL.instances(rows, connection)
    return found[0] if found else None


def _lookup_sql(connection: BaseDatabaseWrapper, *, ongoing: bool, last: bool) -> str:
    """One SELECT answering `ongoing` and/or `last` for a number; each row is tagged with
    the status it answers (0 ongoing, 1 last). Its parameters come from `_lookup_params`."""
    qn = connection.ops.quote_name
    table = qn(CALL.table)
    caller, called = qn("caller_number"), qn("called_number")
    started, ended = qn("started_at"), qn("ended_at")
    columns = CALL.select_list(connection, "c")
    parts = []
    if ongoing:
        # In progress as calls.states defines it (no_end_yet | end_to_come, started),
        # spelled out in SQL. Four arms (number column ×
        # end state), each of which one (number, ended_at) index answers on its own:
        # PostgreSQL ORs four short index scans instead of reading every call of a hot
        # number.
        in_progress = (
            f"SELECT * FROM {table} WHERE {started} <= %s AND ("
            f"({caller} = %s AND {ended} IS NULL AND {started} > %s)"
            f" OR ({caller} = %s AND {ended} > %s)"
            f" OR ({called} = %s AND {ended} IS NULL AND {started} > %s)"
            f" OR ({called} = %s AND {ended} > %s)) LIMIT 2"
        )
        parts.append(f"SELECT 0, {columns} FROM ({in_progress}) c")
    if last:
        # The latest end on each side: one backward scan of a (number, ended_at) index each.
        for column in (caller, called):
            latest = (
                f"SELECT * FROM {table} WHERE {column} = %s AND {ended} <= %s "
                f"ORDER BY {ended} DESC LIMIT 2"
            )
            parts.append(f"SELECT 1, {columns} FROM ({latest}) c")
    return " UNION ALL ".join(parts)


_LOOKUPS = {
    (ongoing, last): VendorSql(
        partial(_lookup_sql, ongoing=ongoing, last=last),
        "calls_call_" + "_".join(s for s, on in (("ongoing", ongoing), ("last", last)) if on),
        # One generic plan would serve hot and quiet numbers alike (callportal/sql.py).
        prepare=False,
    )
    for ongoing in (False, True)
    for last in (False, True)
    if ongoing or last
}


def _lookup_params(number: str, now: datetime, *, ongoing: bool, last: bool) -> list[Any]:
    at = CALL.value("started_at", now, connection)
    params: list[Any] = []
    if ongoing:
        oldest_start = now - max_call_length()
        oldest = CALL.value("started_at", oldest_start, connection)
        params += [at, number, oldest, number, at, number, oldest, number, at]
    if last:
        params += [number, at, number, at]
    return params


def _lookup(
    number: str, now: datetime, *, ongoing: bool = True, last: bool = True
) -> tuple[list[Call], list[Call]]:
    """The calls in progress on `number` (at most two) and its latest finished calls (one,
    or two sharing the latest end), in one round trip; only the parts asked for."""
    params = _lookup_params(number, now, ongoing=ongoing, last=last)
    rows = fetch(connection, _LOOKUPS[ongoing, last], params)
    in_progress = CALL.instances((r for r in rows if r[0] == 0), connection, start=1)
    candidates: dict[uuid.UUID, Call] = {}
    for call in CALL.instances((r for r in rows if r[0] != 0), connection, start=1):
        # A call from a number to itself shows up in both scans.
        candidates.setdefault(call.pk, call)
    ranked = sorted(candidates.values(), key=lambda call: call.ended_at, reverse=True)
    if len(ranked) >= 2 and ranked[0].ended_at == ranked[1].ended_at:
        return in_progress, ranked[:2]
    return in_progress, ranked[:1]


def ongoing_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """Calls in progress on `number` (at most two: enough to tell "one" from "several").

    In progress as calls.states defines it, spelled out in SQL per number column.
    """
    return _lookup(number, now or timezone.now(), last=False)[0]


def last_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """The finished call on `number` with the latest end, or two when that end is shared."""
    return _lookup(number, now or timezone.now(), ongoing=False)[1]


def next_calls(number: str, *, arrived_at: datetime) -> list[Call]:
    """Wait for the next call on `number` that starts after `arrived_at` (a long poll)."""
    return list(wait_for_next(number, arrived_at))[:2]


def calls_by_status(number: str, statuses: Sequence[Status], *, arrived_at: datetime) -> list[Call]:
    """Try `statuses` in order; the first that finds any call answers (one, or two = ambiguous).

    `ongoing` and `last` are answered together by one query, asked when the first of them
    is reached (after any `next` before it has waited: "now" is then later).
    """
    answered: dict[Status, list[Call]] = {}
    for index, status in enumerate(statuses):
        if status is Status.NEXT:
            found = next_calls(number, arrived_at=arrived_at)
        else:
            if status not in answered:
                # Asked together: the statuses up to the next `next` (or the end).
                rest = list(statuses[index:])
                ahead = rest[: rest.index(Status.NEXT)] if Status.NEXT in rest else rest
                ongoing, last = Status.ONGOING in ahead, Status.LAST in ahead
                found_ongoing, found_last = _lookup(
                    number, timezone.now(), ongoing=ongoing, last=last
                )
                if ongoing:
                    answered[Status.ONGOING] = found_ongoing
                if last:
                    answered[Status.LAST] = found_last
            found = answered[status]
        if found:
            return found
    return []


def calls_by_platform_call_id(platform_call_id: str) -> list[Call]:
    """Calls with exactly this platform call ID (case-sensitive); two mean ambiguous."""
    return list(Call.objects.filter(platform_call_id=platform_call_id)[:2])


def calls_by_native_id(native_id: str) -> list[Call]:
    """Calls with exactly this native ID (case-sensitive); two mean ambiguous."""
    return list(Call.objects.filter(native_id=native_id)[:2])


def calls_by_native_id_and_start(native_id: str, started_at: datetime) -> list[Call]:
    """Calls with exactly this native ID and start (PutMedia's "the same call again");
    two mean ambiguous."""
    return list(Call.objects.filter(native_id=native_id, started_at=started_at)[:2])
