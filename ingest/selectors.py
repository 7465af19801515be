"""Reads of the ingestion API."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from calls.either_side import EitherSide, number_sides
from calls.models import Call


def call_exists(call_id: uuid.UUID) -> bool:
    return Call.objects.filter(pk=call_id).exists()


def find_call(call_id: uuid.UUID) -> Call | None:
    return Call.objects.filter(pk=call_id).first()


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
        return EitherSide(*number_sides(calls, number))
    return calls
