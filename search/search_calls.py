"""The Business API's SearchCalls: calls that started in a period, by parts of numbers and
names, in a chosen order, one page at a time (contract §7.3, §7.13).

Independent of HTTP: the caller hands over a validated `PeriodSearch`.

"Part of a number" and "part of a name" are defined once, in calls/matching.py (the staff
call list and the calls admin's search match the same way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db.models import F, QuerySet, Value
from django.db.models.expressions import OrderBy as OrderByExpression
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from calls.matching import any_name_part, any_number_part
from calls.models import Call
from calls.states import State, state_q
from directory.scopes import EVERYTHING, Scope


class CdrStatus(StrEnum):
    RECORDED = "recorded"  # finished: an end at or before now, recording or not
    ONGOING = "ongoing"  # in progress, as GetCallURL's `ongoing` (§5)


class OrderBy(StrEnum):
    """The record fields a search may be ordered by, named as in `<verbacdr>`."""

    START_TIME = "start_time"
    END_TIME = "end_time"
    DURATION = "duration"
    SOURCE_CALLER_ID = "source_caller_id"
    DESTINATION_CALLER_ID = "destination_caller_id"


@dataclass(frozen=True)
class PeriodSearch:
    started_from: datetime  # inclusive
    started_before: datetime  # exclusive
    status: CdrStatus = CdrStatus.RECORDED
    # Any of them inside the caller or the called number (case as given).
    number_parts: tuple[str, ...] = ()
    # Any of them inside the caller or the called name, in any letter case.
    name_parts: tuple[str, ...] = ()
    order_by: OrderBy = OrderBy.START_TIME
    descending: bool = True


def search_period(
    search: PeriodSearch,
    *,
    offset: int,
    limit: int,
    now: datetime | None = None,
    scope: Scope = EVERYTHING,
) -> list[Call]:
    """Calls `offset` … `offset + limit - 1` of the search, in its order; ties by id; only
    calls in `scope` (directory.scopes)."""
    now = now or timezone.now()
    found: list[Call] = []
    for queryset in period_queries(search, offset=offset, limit=limit, now=now, scope=scope):
        found = list(queryset)
        if len(found) >= offset + limit:
            break
    return found[offset:]


def period_queries(
    search: PeriodSearch, *, offset: int, limit: int, now: datetime, scope: Scope = EVERYTHING
) -> Iterator[QuerySet[Call]]:
    """The queries that answer `search`, to run in turn until one brings `offset + limit`
    rows (bench/search_calls.py explains the same ones)."""
    yield _ordered(scope.filter(_matching(search, now)), search, now)[: offset + limit]


def _matching(search: PeriodSearch, now: datetime) -> QuerySet[Call]:
    calls = Call.objects.filter(
        started_at__gte=search.started_from, started_at__lt=search.started_before
    )
    # The one definition of the states (calls/states.py), as GetCallURL and the staff pages.
    finished = search.status is CdrStatus.RECORDED
    calls = calls.filter(state_q(State.FINISHED if finished else State.IN_PROGRESS, now))
    if search.number_parts:
        calls = calls.filter(any_number_part(search.number_parts))
    if search.name_parts:
        calls = calls.filter(any_name_part(search.name_parts))
    return calls


def _ordered(calls: QuerySet[Call], search: PeriodSearch, now: datetime) -> QuerySet[Call]:
    """`calls` in the search's order, ties by id.

    Every order is one an index gives as is (calls/migrations/0007_search_order_indexes.py,
    PostgreSQL), so that the first page of a hot number's month is found by walking that
    index until the page is full, as for start_time, instead of reading and sorting every
    match: a hot number's month ordered by duration read and sorted 34,000 calls (403 ms at
    10 M calls). Each of those indexes has started_at second, so that the period is checked
    in the index, before any row is read. tests/test_query_plans.py checks every order.
    """
    key: OrderByExpression
    finished = search.status is CdrStatus.RECORDED
    if search.order_by is OrderBy.DURATION:
        if finished:
            # A finished call's end is at or before now: its duration is end − start, the
            # expression of the `call_duration` index.
            expression = F("ended_at") - F("started_at")
        else:
            # The time so far for a call in progress, as the record shows it (few calls:
            # the partial index of calls in progress finds them; sorting them is cheap).
            until = Least(Coalesce(F("ended_at"), Value(now)), Value(now))
            expression = until - F("started_at")
        key = expression.desc() if search.descending else expression.asc()
    elif search.order_by is OrderBy.END_TIME:
        column = F("ended_at")
        if finished:
            # Never NULL when finished: a plain direction, which the `call_ended` index gives
            # walked either way (DESC NULLS LAST is not the order of a backward scan).
            key = column.desc() if search.descending else column.asc()
        else:
            # Calls without an end sort after the others either way.
            key = column.desc(nulls_last=True) if search.descending else column.asc(nulls_last=True)
    else:
        # Never NULL: a plain direction, so the B-tree on started_at gives this order as is
        # (DESC NULLS LAST is not the order of a backward index scan, and would sort).
        column = F(_COLUMNS[search.order_by])
        key = column.desc() if search.descending else column.asc()
    return calls.order_by(key, "id")


_COLUMNS = {
    OrderBy.START_TIME: "started_at",
    OrderBy.SOURCE_CALLER_ID: "caller_number",
    OrderBy.DESTINATION_CALLER_ID: "called_number",
}
