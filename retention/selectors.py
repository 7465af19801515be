"""Reads of rules, holds and the ledger."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Q, QuerySet

from retention.models import DeletionEntry, LegalHold, RetentionRule


def active_holds() -> list[LegalHold]:
    return list(LegalHold.objects.filter(released_at__isnull=True))


def active_holds_fixed() -> list[LegalHold]:
    """The active holds, which stay as they are until the caller's transaction ends: for a
    deletion, so that a hold saved before the deletion commits protects its calls.

    PostgreSQL: a SHARE lock on the holds' table, which waits for a hold being saved (or
    released) to commit and keeps the next one waiting until this transaction ends; a hold
    saved while a deletion commits waits a fraction of a second. SQLite: every transaction
    already writes alone (transaction_mode IMMEDIATE, callportal/settings.py)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(LegalHold._meta.db_table)} IN SHARE MODE"
            )
    return active_holds()


def rules() -> list[RetentionRule]:
    return list(RetentionRule.objects.prefetch_related("groups"))


def ledger(since: datetime | None = None) -> QuerySet[DeletionEntry]:
    """Ledger entries, oldest first, deleted at or after `since`."""
    entries = DeletionEntry.objects.order_by("deleted_at", "id")
    if since is not None:
        entries = entries.filter(deleted_at__gte=since)
    return entries


# The JSON feed's largest page (retention.md §4).
PAGE_SIZE_MAX = 1000


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Where a page of the ledger ends: the last entry's deletion time and id (the feed's
    order)."""

    deleted_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.deleted_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            at, _, pk = base64.urlsafe_b64decode(text.encode("ascii")).decode().partition("|")
            return cls(datetime.fromisoformat(at).astimezone(UTC), int(pk))
        except (ValueError, UnicodeError, binascii.Error):
            raise BadCursor("cursor is not one this API handed out.") from None


@dataclass(frozen=True)
class Page:
    entries: list[DeletionEntry]
    next: Cursor | None


def ledger_page(
    since: datetime | None = None, *, after: Cursor | None = None, size: int = PAGE_SIZE_MAX
) -> Page:
    """Up to `size` entries deleted at or after `since`, oldest first, after `after`;
    `next` when more may follow."""
    size = max(1, min(size, PAGE_SIZE_MAX))
    entries = ledger(since)
    if after is not None:
        # `deleted_at >= …` first, so that the (deleted_at, id) index starts at the cursor.
        entries = entries.filter(deleted_at__gte=after.deleted_at).filter(
            Q(deleted_at__gt=after.deleted_at) | Q(id__gt=after.id)
        )
    rows = list(entries.order_by("deleted_at", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, Cursor(rows[-1].deleted_at, rows[-1].pk) if more else None)
