"""Reads of rules, holds and the ledger."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from retention.models import DeletionEntry, LegalHold, RetentionRule


def active_holds() -> list[LegalHold]:
    return list(LegalHold.objects.filter(released_at__isnull=True))


def rules() -> list[RetentionRule]:
    return list(RetentionRule.objects.prefetch_related("groups"))


def ledger(since: datetime | None = None) -> QuerySet[DeletionEntry]:
    """Ledger entries, oldest first, deleted at or after `since`."""
    entries = DeletionEntry.objects.order_by("id")
    if since is not None:
        entries = entries.filter(deleted_at__gte=since)
    return entries
