"""Reads of the ingestion API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from calls.models import Call


def call_exists(call_id: uuid.UUID) -> bool:
    return Call.objects.filter(pk=call_id).exists()


def find_call(call_id: uuid.UUID) -> Call | None:
    return Call.objects.filter(pk=call_id).first()


class EitherSide:
    """The calls of several disjoint querysets as one list, for the cursor paginator.

    "The number is the caller or the called party" as one OR with ORDER BY started_at makes
    PostgreSQL either walk the start-time index until enough calls of the number turn up
    (a second and more for a number whose calls are all old) or sort every call of a hot
    number. Instead each side is its own query, ordered and cut by one (number, started_at)
    index scan, and the few rows are merged here. The paginator only orders, filters and
    slices, which is all this supports.
    """

    def __init__(self, *sides: QuerySet[Call], ordering: tuple[str, ...] = ()) -> None:
        self.sides = sides
        self.ordering = ordering

    def order_by(self, *fields: str) -> EitherSide:
        return EitherSide(*(side.order_by(*fields) for side in self.sides), ordering=fields)

    def filter(self, *args: Any, **kwargs: Any) -> EitherSide:
        return EitherSide(
            *(side.filter(*args, **kwargs) for side in self.sides), ordering=self.ordering
        )

    def __getitem__(self, bounds: slice) -> list[Call]:
        # The first `stop` rows of the union are among the first `stop` of each side.
        rows = [call for side in self.sides for call in side[: bounds.stop]]
        for field in reversed(self.ordering):  # stable sorts, last key first
            name = field.lstrip("-")
            rows.sort(key=lambda call: getattr(call, name), reverse=field.startswith("-"))
        return rows[bounds]


def list_calls(
    *,
    number: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> QuerySet[Call] | EitherSide:
    """Calls matching the filters (unordered: the paginator orders them). With a number,
    the caller side and the called side, each read through its own index (`EitherSide`)."""
    calls = Call.objects.all()
    if started_after is not None:
        calls = calls.filter(started_at__gte=started_after)
    if started_before is not None:
        calls = calls.filter(started_at__lt=started_before)
    if number:
        # Disjoint sides: a call from the number to itself is the caller side's.
        return EitherSide(
            calls.filter(caller_number=number),
            calls.filter(called_number=number).exclude(caller_number=number),
        )
    return calls
