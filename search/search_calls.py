"""The Business API's SearchCalls: calls that started in a period, by parts of numbers and
names, in a chosen order, one page at a time (contract §7.3, §7.13).

Independent of HTTP: the caller hands over a validated `PeriodSearch`.

"Part of a number" and "part of a name" are defined once, in calls/matching.py (the staff
call list and the calls admin's search match the same way).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from itertools import groupby
from operator import attrgetter
from typing import Any
from uuid import UUID

from django.db.models import F, Q, QuerySet, Value
from django.db.models.expressions import OrderBy as OrderByExpression
from django.db.models.functions import Coalesce, Least
from django.db.models.lookups import Exact
from django.utils import timezone

from calls.matching import AsText, any_name_part, any_number_part
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
    steps = period_steps(search, offset=offset, limit=limit, now=now, scope=scope)
    try:
        query = next(steps)
        while True:
            query = steps.send(list(query))
    except StopIteration as done:
        found: list[Call] = done.value
    return found[offset:]


# The queries of a search, one after another: each is sent the rows of the one before, and
# the last step returns the calls `0 … offset + limit - 1` of the search.
Steps = Generator[QuerySet[Any], list[Any], list[Call]]


def period_steps(
    search: PeriodSearch, *, offset: int, limit: int, now: datetime, scope: Scope = EVERYTHING
) -> Steps:
    """The queries that answer `search`, to run in turn, each sent its rows
    (bench/search_calls.py explains the same ones). One query, but for an order by a number
    (two) and a narrowed scope (its numbers first)."""
    calls = scope.filter(_matching(search, now))
    wanted = offset + limit
    owned = scope.numbers()
    if owned is not None:
        numbers = yield owned[: SCOPE_NUMBERS_MAX + 1]
        if not numbers:
            return []  # nobody in the scope has a number: no call is in it
        if len(numbers) <= SCOPE_NUMBERS_MAX:
            calls = calls.filter(Q(caller_number__in=numbers) | Q(called_number__in=numbers))
            if search.order_by in _NUMBERS:
                # Read by the scope's numbers, then sorted: ordered by the bare column, the
                # planner walked the number's index in its order and checked the scope on
                # each call, and a team whose numbers sort last was found at the end of the
                # walk (430 ms at 2 M calls). Coalesce (the column is never NULL) is an order
                # no index gives, so the planner reads the scope's few calls and sorts them.
                number = Coalesce(F(_NUMBERS[search.order_by]), Value(""))
                key = number.desc() if search.descending else number.asc()
                found = yield calls.order_by(key, "id")[:wanted]
                return found
    if search.order_by in _NUMBERS:
        # The calls of one number holding a part match that part whatever the other number:
        # the search without its number parts (the planner then counts them right).
        unparted = scope.filter(_matching(replace(search, number_parts=()), now))
        column = _NUMBERS[search.order_by]
        found = yield from _by_number(calls, unparted, column, search, wanted)
        return found
    if search.order_by is OrderBy.END_TIME and search.status is CdrStatus.RECORDED:
        bound = yield from _ends_of_period(search)
        if bound is None:
            return []  # no call of the period has an end
        calls = calls.filter(bound)
    found = yield _ordered(calls, search, now)[:wanted]
    return found


# Up to this many numbers, a scoped search names its scope's numbers (Scope.numbers) as a
# condition the planner can count and look up through the number indexes. A supervisor's
# team of 50 agents has 2.5 % of the calls (bench/scopes.py); an index walked in the
# search's order, the scope checked on each call, passes every other number's calls before
# the team's: a month by called number, the team's numbers sorting last, took 430 ms at
# 2 M calls, and at 10 M an order by number ran into the 30 s statement timeout. Read by
# the team's numbers and sorted: 40 ms at 2 M. Beyond this many numbers, a scope is a
# large share of the calls, and the usual walks meet its calls soon enough.
SCOPE_NUMBERS_MAX = 1000


def _by_number(
    calls: QuerySet[Call],
    unparted: QuerySet[Call],
    column: str,
    search: PeriodSearch,
    wanted: int,
) -> Steps:
    """The first `wanted` of `calls` by `column`, ties by id (ascending either way).

    No index gives "number descending, id ascending", and sorting a hot number's calls of a
    month by id read all of them (17,000 calls as caller; 218 ms): so the page is found in
    two steps, each a walk of an index that stops when the page is full.

    1. The first `wanted` calls by the number, ties by start: the `(number, started_at)`
       index as is, walked either way. Every call numbered before the page's last number
       is among them; only the calls sharing that last number may be the wrong ones.
    2. The calls sharing that last number, by id: the `(number || '', id, started_at)`
       index (calls/migrations/0008_search_number_id_indexes.py), the period checked on
       its entries, read until the rest of the page is full.
    """
    direction = attrgetter("desc" if search.descending else "asc")
    first = yield calls.order_by(direction(F(column))(), direction(F("started_at"))())[:wanted]
    if not first:
        return []
    last = getattr(first[-1], column)
    before = [call for call in first if getattr(call, column) != last]
    if len(first) < wanted:
        # Every match is here: the last number's calls too.
        tied = sorted((call for call in first if getattr(call, column) == last), key=_id)
    else:
        if any(part in last for part in search.number_parts):
            calls = unparted
        tied = yield calls.filter(Exact(AsText(F(column)), last)).order_by("id")[
            : wanted - len(before)
        ]
    # The numbers before the last keep the database's order (its collation); their ties
    # are put in id order here (a UUID sorts in Python as in the database: by its bytes).
    runs = groupby(before, key=attrgetter(column))
    ordered = [call for _, same in runs for call in sorted(same, key=_id)]
    return ordered + list(tied)


def _id(call: Call) -> UUID:
    return call.pk


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
    PostgreSQL; the orders by a number are _by_number's), so that the first page of a hot
    number's month is found by walking that index until the page is full, as for
    start_time, instead of reading and sorting every match: a hot number's month ordered
    by duration read and sorted 34,000 calls (403 ms at 10 M calls). Each of those indexes
    has started_at second, so that the period is checked in the index, before any row is
    read. tests/test_query_plans.py checks every order.
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
        # Start time (the orders by a number are _by_number's). Never NULL: a plain
        # direction, so the B-tree on started_at gives this order as is (DESC NULLS LAST is
        # not the order of a backward index scan, and would sort).
        column = F("started_at")
        key = column.desc() if search.descending else column.asc()
    return calls.order_by(key, "id")


def _ends_of_period(search: PeriodSearch) -> Generator[QuerySet[Any], list[Any], Q | None]:
    """Where the ends of the period's calls lie, as a bound on the end index where its walk
    begins (None: no call of the period has an end). Without it, ordering by end a month
    far from the newest (or the oldest) calls walked the end index across every call in
    between (90 ms at 2 M calls, a month back).

    Oldest first: the period's calls end at or after its start (a call ends after it
    starts: the `call_ends_after_start` constraint). Newest first: before the period's end
    plus the longest of its calls, asked first (one probe of the `call_duration` index,
    from the longest down to the first of the period). The bound is a value, not a
    subquery, and one side only: PostgreSQL guesses a range with an unknown end to hold
    0.5 % of the rows, and then a bitmap scan of the whole month and a sort looked cheaper
    than the walk (575 ms at 2 M calls, against 1 ms).
    """
    if not search.descending:
        return Q(ended_at__gte=search.started_from)
    longest = yield (
        Call.objects.filter(
            started_at__gte=search.started_from, started_at__lt=search.started_before
        )
        .annotate(length=F("ended_at") - F("started_at"))
        .filter(length__isnull=False)
        .order_by("-length")
        .values_list("length", flat=True)[:1]
    )
    if not longest:
        return None
    return Q(ended_at__lt=search.started_before + longest[0])


# The orders by a number, answered in two steps (_by_number).
_NUMBERS = {
    OrderBy.SOURCE_CALLER_ID: "caller_number",
    OrderBy.DESTINATION_CALLER_ID: "called_number",
}
