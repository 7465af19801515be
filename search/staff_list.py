"""Reads behind the staff call list: search by number (whole, or a part of one), a part of a
name, start-time range, state and whether the call has a recording.

Newest first, paginated by keyset on (started_at, id): no OFFSET and no COUNT(*), so the
hundredth page of a million calls costs what the first does. A number search is two index
scans, on (caller_number, started_at) and (called_number, started_at), merged
(calls/either_side.py); an OR across both columns with ORDER BY started_at would scan far
more rows on big tables. A part of a number or of a name matches as SearchCalls' `anynum`
and `anyname` do (calls/matching.py, the one definition).
"""

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db.models import QuerySet
from django.utils import timezone

from calls.either_side import first_rows, number_sides
from calls.matching import any_name_part, any_number_part
from calls.models import Call
from calls.states import State, state_q
from directory.scopes import EVERYTHING, Scope
from shared.guids import parse_guid
from shared.times import parse_datetime

PER_PAGE = 50


class Recording(StrEnum):
    """The list's recording filter."""

    ANY = ""
    WITH = "with"
    WITHOUT = "without"


@dataclass(frozen=True)
class CallSearch:
    """What the user asked for; empty fields do not filter."""

    number: str = ""  # the caller or the called number, exactly
    number_part: str = ""  # inside the caller or the called number (SearchCalls' anynum)
    name_part: str = ""  # inside the caller or the called name, any case (anyname)
    started_from: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive
    state: str = State.ANY
    recording: Recording = Recording.ANY


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the (started_at, id) of a call on the edge of a page."""

    started_at: datetime
    pk: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.started_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> "Cursor | None":
        """The cursor in `value`, or None when it was not made by `encode`."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            started, pk = raw.split("|")
            # In UTC, as stored (a hand-made "year 1, UTC+14" is refused: it would overflow
            # in the query); a cursor always carries its offset.
            started_at = parse_datetime(started, naive_is_utc=False)
            guid = parse_guid(pk)
            return None if guid is None else cls(started_at, guid)
        except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
            return None


@dataclass
class Page:
    calls: list[Call] = field(default_factory=list)
    # Pass as `before` for the next older page / as `after` for the next newer page.
    older: Cursor | None = None
    newer: Cursor | None = None


def search_calls(
    search: CallSearch,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
    scope: Scope = EVERYTHING,
) -> Page:
    """One page of calls matching `search`, newest first.

    Without a cursor: the newest calls. `before`: the calls just older than that position;
    `after`: the calls just newer than it. Only calls in `scope` (directory.scopes).
    """
    now = now or timezone.now()
    base = scope.filter(_filtered(search, now))
    if after is not None:
        rows = _fetch(base, search.number, after, newer=True, limit=per_page + 1)
        if len(rows) <= per_page:
            # Close to the top: a short "newer" page would look odd, show the first page.
            return search_calls(search, per_page=per_page, now=now, scope=scope)
        calls = list(reversed(rows[:per_page]))
        return Page(calls, older=_position(calls[-1]), newer=_position(calls[0]))
    rows = _fetch(base, search.number, before, newer=False, limit=per_page + 1)
    calls = rows[:per_page]
    return Page(
        calls,
        older=_position(calls[-1]) if len(rows) > per_page else None,
        newer=_position(calls[0]) if before is not None and calls else None,
    )


def _position(call: Call) -> Cursor:
    return Cursor(call.started_at, call.pk)


def _filtered(search: CallSearch, now: datetime) -> QuerySet[Call]:
    calls = Call.objects.all()
    if search.started_from is not None:
        calls = calls.filter(started_at__gte=search.started_from)
    if search.started_before is not None:
        calls = calls.filter(started_at__lt=search.started_before)
    if search.state != State.ANY:
        calls = calls.filter(state_q(search.state, now))
    if search.number_part:
        calls = calls.filter(any_number_part([search.number_part]))
    if search.name_part:
        calls = calls.filter(any_name_part([search.name_part]))
    if search.recording is Recording.WITH:
        calls = calls.exclude(recording="")
    elif search.recording is Recording.WITHOUT:
        calls = calls.filter(recording="")
    return calls


def _fetch(
    calls: QuerySet[Call], number: str, cursor: Cursor | None, *, newer: bool, limit: int
) -> list[Call]:
    """Up to `limit` calls beyond `cursor`, nearest first."""
    if not number:
        return list(_beyond(calls, cursor, newer=newer)[:limit])
    # The first `limit` of the union are among the first `limit` of each side.
    sides = tuple(_beyond(side, cursor, newer=newer) for side in number_sides(calls, number))
    ordering = ("started_at", "id") if newer else ("-started_at", "-id")
    return first_rows(sides, ordering, limit)


def _beyond(calls: QuerySet[Call], cursor: Cursor | None, *, newer: bool) -> QuerySet[Call]:
    # "started_at <= t" (not an OR of two conditions) lets the database range-scan the
    # index; the few rows sharing the cursor's start are then cut by id.
    if newer:
        if cursor is not None:
            calls = calls.filter(started_at__gte=cursor.started_at).exclude(
                started_at=cursor.started_at, id__lte=cursor.pk
            )
        return calls.order_by("started_at", "id")
    if cursor is not None:
        calls = calls.filter(started_at__lte=cursor.started_at).exclude(
            started_at=cursor.started_at, id__gte=cursor.pk
        )
    return calls.order_by("-started_at", "-id")
