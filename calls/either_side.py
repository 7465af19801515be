"""Calls in which a number (or an id) takes part on any side, read one index per side.

"The number is the caller OR the called party" as one OR with ORDER BY started_at makes
PostgreSQL either walk the start-time index until enough calls of the number turn up (for
a number whose calls are all old: every row of the table, the statement timeout at 10 M
calls) or sort every call of a hot number. Asked side by side instead, each side is one
scan of its own (number, started_at) index, cut at the rows needed, and the few rows are
merged here.

Every list that finds calls by number uses this: the ingestion list (`EitherSide`, for
DRF's cursor paginator), the staff search (search/staff_list.py) and the admin's search box
(`SidedQuerySet`, for the admin's changelist and paginator).
"""

from __future__ import annotations

from typing import Any, Self

from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.query import ModelIterable

from calls.models import Call
from shared.guids import parse_guid


def number_sides(calls: QuerySet[Call], number: str) -> tuple[QuerySet[Call], QuerySet[Call]]:
    """The calls of `calls` with `number` as the caller, and those with it as the called
    party only: disjoint (a call from the number to itself is the caller side's)."""
    return (
        calls.filter(caller_number=number),
        calls.filter(called_number=number).exclude(caller_number=number),
    )


def term_conditions(term: str) -> list[Q]:
    """What an admin search term matches, one condition per index: either number, the
    native id, the platform call id and, for a GUID, the call id."""
    conditions = [
        Q(caller_number=term),
        Q(called_number=term),
        Q(native_id=term),
        Q(platform_call_id=term),
    ]
    guid = parse_guid(term)
    if guid is not None:
        conditions.append(Q(pk=guid))
    return conditions


def term_sides(
    calls: QuerySet[Call], term: str
) -> tuple[list[QuerySet[Call]], list[QuerySet[Call]]]:
    """`calls` matching `term` (see `term_conditions`) as disjoint sides, each led by one
    index (a row matching several conditions belongs to the first), and each side's lead:
    the same without the conditions that keep the sides apart (cheaper to count)."""
    sides, leads = [], []
    earlier = Q()
    for condition in term_conditions(term):
        lead = calls.filter(condition)
        leads.append(lead)
        sides.append(lead.exclude(earlier) if earlier else lead)
        earlier |= condition
    return sides, leads


def any_of(conditions: list[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def first_rows(
    sides: tuple[QuerySet[Call], ...], ordering: tuple[str, ...], stop: int | None
) -> list[Call]:
    """The first `stop` rows (all when None) of the union of disjoint `sides` in `ordering`:
    they are among the first `stop` of each side."""
    rows = [call for side in sides for call in side.order_by(*ordering)[:stop]]
    if not sides:
        return rows
    # Sorted as the database sorts, NULLs included (PostgreSQL: larger than any value;
    # SQLite: smaller).
    nulls_largest = connections[sides[0].db].vendor == "postgresql"
    for field in reversed(ordering):  # stable sorts, last key first
        name = field.lstrip("-")

        def key(call: Call, name: str = name) -> tuple[bool, Any]:
            value = getattr(call, name)
            return (value is None) == nulls_largest, value

        rows.sort(key=key, reverse=field.startswith("-"))
    return rows[:stop]


class EitherSide:
    """The calls of several disjoint querysets as one list, for DRF's cursor paginator,
    which only orders, filters and slices: all this supports."""

    def __init__(self, *sides: QuerySet[Call], ordering: tuple[str, ...] = ()) -> None:
        self.sides = sides
        self.ordering = ordering

    def order_by(self, *fields: str) -> EitherSide:
        return EitherSide(*self.sides, ordering=fields)

    def filter(self, *args: Any, **kwargs: Any) -> EitherSide:
        return EitherSide(
            *(side.filter(*args, **kwargs) for side in self.sides), ordering=self.ordering
        )

    def __getitem__(self, bounds: slice) -> list[Call]:
        return first_rows(self.sides, self.ordering, bounds.stop)[bounds]


class SidedQuerySet(QuerySet):
    """A queryset whose rows may be read side by side (`with_sides`).

    Its SQL stays the plain OR over all sides, right for anything else done with it
    (the admin's actions filter it by the rows chosen, lock and delete them). Only reading
    its model rows — iterating, slicing, counting, `exists()`, as the admin's changelist and
    paginator do — goes side by side, and only while it is merely ordered and sliced: any
    further filter, annotation, lock, `values()` or DISTINCT falls back to the SQL.
    """

    _sides: tuple[QuerySet, ...] | None = None
    _leads: tuple[QuerySet, ...] = ()
    # The order a lead is counted in, to be cut at a bound: none is needed, but "the first N
    # in this index's order" keeps the planner on the lead's B-tree, read alone and stopped
    # at N; unordered, it may take a bitmap of every call of a hot number (from a trigram
    # index, which answers `=` too: half a second at 10 M calls) or a sequential scan.
    count_along: tuple[str, ...] = ()

    def with_sides(self, sides: list[QuerySet], leads: list[QuerySet] | None = None) -> Self:
        """This queryset (which must be the union of the disjoint `sides`), read side by
        side. `leads`, one per side, each holding its side, make a bounded count cheaper."""
        clone = self._chain()  # type: ignore[attr-defined]
        clone._sides = tuple(sides)
        clone._leads = tuple(leads or ())
        return clone

    # QuerySet's cloning hooks are private, so django-stubs does not declare them; every
    # queryset Django derives from this one passes through them.
    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]
        clone._sides = self._sides
        clone._leads = self._leads
        return clone

    def _filter_or_exclude(self, negate: bool, args: Any, kwargs: Any) -> Self:
        clone = super()._filter_or_exclude(negate, args, kwargs)  # type: ignore[misc]
        clone._sides = None
        return clone

    def extra(self, *args: Any, **kwargs: Any) -> Self:
        clone: Self = super().extra(*args, **kwargs)  # type: ignore[assignment]
        clone._sides = None
        return clone

    def _read_by_side(self) -> bool:
        query = self.query
        return (
            self._sides is not None
            and self._result_cache is None
            and self._iterable_class is ModelIterable
            and not query.select_for_update
            and not query.distinct
            and not query.annotations
            and not query.extra
            and not query.combinator
            and all(isinstance(field, str) for field in query.order_by)
        )

    def _fetch_all(self) -> None:
        if self._read_by_side():
            query = self.query
            ordering = tuple(query.order_by)
            rows = first_rows(self._sides, ordering, query.high_mark)  # type: ignore[arg-type]
            self._result_cache = rows[query.low_mark :]
        super()._fetch_all()

    def count(self) -> int:
        if not self._read_by_side():
            return super().count()
        low, high = self.query.low_mark, self.query.high_mark
        # A count cut at `high` (the admin paginator's "10000+"): once one lead reaches it,
        # so does the union. Leads are read from their index alone; the sides, whose
        # conditions need the table's rows, are counted only when every lead is short.
        if (
            high is not None
            and self._leads
            and max(lead.order_by(*self.count_along)[:high].count() for lead in self._leads) >= high
        ):
            return max(0, high - low)
        total = sum(side.order_by()[:high].count() for side in self._sides or ())
        if high is not None:
            total = min(total, high)
        return max(0, total - low)

    def exists(self) -> bool:
        if not self._read_by_side() or self.query.low_mark:
            return super().exists()
        return any(side.exists() for side in self._sides or ())
