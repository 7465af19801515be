"""Reads of the ingestion API."""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

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
) -> QuerySet[Call]:
    """Calls matching the filters (unordered: the paginator orders them)."""
    calls = Call.objects.all()
    if number:
        calls = calls.filter(Q(caller_number=number) | Q(called_number=number))
    if started_after is not None:
        calls = calls.filter(started_at__gte=started_after)
    if started_before is not None:
        calls = calls.filter(started_at__lt=started_before)
    return calls
