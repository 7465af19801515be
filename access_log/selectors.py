"""Reading the access log: filters, oldest-first pages with a cursor, and the shapes the
JSON feed and the CSV export write."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet

from access_log.models import AccessEvent, Kind
from shared.guids import parse_guid
from shared.times import parse_datetime

PAGE_SIZE_MAX = 1000

# The columns of the CSV export and the keys of the JSON feed, in this order.
FIELDS = ("at", "kind", "call", "user", "api_key", "surface", "client", "detail")


class BadFilter(ValueError):
    """A filter or cursor that cannot be read; `name` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass(frozen=True)
class EventFilter:
    call_id: uuid.UUID | None = None
    user: str | None = None
    kind: Kind | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EventFilter:
        """The filter of `call`, `user`, `kind`, `since`, `until` (ISO 8601; without an
        offset, UTC); absent or empty means any. BadFilter names the first bad one."""
        call_id = None
        if raw := params.get("call"):
            call_id = parse_guid(raw)
            if call_id is None:
                raise BadFilter("call", "call must be a call id (a GUID).")
        kind = None
        if raw := params.get("kind"):
            if raw not in Kind.values:
                raise BadFilter("kind", f"kind must be one of {', '.join(Kind.values)}.")
            kind = Kind(raw)
        since, until = (_moment(params, name) for name in ("since", "until"))
        return cls(call_id, params.get("user") or None, kind, since, until)

    def apply(self, events: QuerySet[AccessEvent]) -> QuerySet[AccessEvent]:
        if self.call_id is not None:
            events = events.filter(call_id=self.call_id)
        if self.user is not None:
            events = events.filter(user=self.user)
        if self.kind is not None:
            events = events.filter(kind=self.kind)
        if self.since is not None:
            events = events.filter(at__gte=self.since)
        if self.until is not None:
            events = events.filter(at__lt=self.until)
        return events


def _moment(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        raise BadFilter(name, f"{name} must be a date and time in ISO 8601.") from None


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last event's time and id (the feed's order)."""

    at: datetime
    id: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.at.isoformat()}|{self.id}".encode()).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            at, _, pk = base64.urlsafe_b64decode(text.encode("ascii")).decode().partition("|")
            return cls(datetime.fromisoformat(at).astimezone(UTC), int(pk))
        except (ValueError, UnicodeError, binascii.Error):
            raise BadFilter("cursor", "cursor is not one this API handed out.") from None


@dataclass(frozen=True)
class Page:
    events: list[AccessEvent]
    next: Cursor | None


def events_page(
    event_filter: EventFilter, *, after: Cursor | None = None, size: int = PAGE_SIZE_MAX
) -> Page:
    """Up to `size` events, oldest first, after `after`; `next` when more may follow."""
    size = max(1, min(size, PAGE_SIZE_MAX))
    events = event_filter.apply(AccessEvent.objects.all())
    if after is not None:
        # `at >= …` first, so that the (at, id) index starts at the cursor.
        events = events.filter(at__gte=after.at).filter(Q(at__gt=after.at) | Q(id__gt=after.id))
    rows = list(events.order_by("at", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, Cursor(rows[-1].at, rows[-1].id) if more else None)


def events_of_call(call_id: uuid.UUID, *, limit: int) -> list[AccessEvent]:
    """The call's latest events, newest first."""
    return list(AccessEvent.objects.filter(call_id=call_id).order_by("-at", "-id")[:limit])


def as_json(event: AccessEvent) -> dict[str, Any]:
    """The feed's shape of an event: absent values are null, `at` in UTC."""
    return {
        "at": event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "kind": event.kind,
        "call": str(event.call_id) if event.call_id else None,
        "user": event.user or None,
        "api_key": event.api_key or None,
        "surface": event.surface,
        "client": event.client,
        "detail": event.detail,
    }


def as_rows(events: QuerySet[AccessEvent]) -> Iterator[list[str]]:
    """The CSV export's rows, header first; read in chunks, never all at once."""
    yield list(FIELDS)
    for event in events.order_by("at", "id").iterator(chunk_size=2000):
        shown = as_json(event)
        shown["detail"] = json.dumps(event.detail, sort_keys=True, ensure_ascii=False)
        yield ["" if shown[name] is None else str(shown[name]) for name in FIELDS]
