"""Reads of the ingestion API."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from calls.either_side import EitherSide, number_sides
from calls.models import Call
from directory.scopes import EVERYTHING, Scope


def call_exists(call_id: uuid.UUID, scope: Scope = EVERYTHING) -> bool:
    """Whether a call with this id is stored and in `scope` (outside it, it is not)."""
    return scope.filter(Call.objects.filter(pk=call_id)).exists()


def find_call(call_id: uuid.UUID, scope: Scope = EVERYTHING) -> Call | None:
    """The call with this id, when it is in `scope` (the key's, directory.scopes)."""
    return scope.filter(Call.objects.filter(pk=call_id)).first()


def list_calls(
    *,
    scope: Scope = EVERYTHING,
    number: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> QuerySet[Call] | EitherSide:
    """Calls matching the filters (unordered: the paginator orders them). With a number,
    the caller side and the called side, each read through its own index (`EitherSide`).
    Only calls in `scope` (a key limited to groups sees only theirs)."""
    calls = scope.filter(Call.objects.all())
    if started_after is not None:
        calls = calls.filter(started_at__gte=started_after)
    if started_before is not None:
        calls = calls.filter(started_at__lt=started_before)
    if number:
        return EitherSide(*number_sides(calls, number))
    return calls
