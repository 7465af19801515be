"""Markers: named segments of a call, in milliseconds from its start (AddMarker, GetMarkers).

Rules: a name is 1–64 characters and unique per call (case-sensitively); segments may touch
but not overlap; an open marker (started, not yet ended) reaches to the end of the call
until it is closed, so nothing may start after it meanwhile. Every addition checks these
under the call's row lock, so two concurrent requests with overlapping segments leave
exactly one marker (on PostgreSQL the second waits for the first to commit, then sees it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from calls import signals
from calls.deletion import has_ended
from calls.models import MARKER_NAME_MAX_LENGTH, Call, Marker
from shared.text import has_control_character


class Mode(StrEnum):
    START = "start"
    END = "end"
    SEGMENT = "segment"


class MarkerRefused(Exception):
    """The marker cannot be added; `name` is the parameter to blame."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


NAME_MALFORMED = (
    f"The mname parameter must be 1 to {MARKER_NAME_MAX_LENGTH} characters, "
    "without control characters."
)
NAME_TAKEN = "The call already has a marker named so."
NO_OPEN_MARKER = "The call has no open marker of this name."
NOT_IN_PROGRESS = "A marker can be started only on a call in progress."
OUTSIDE_CALL = "The segment must lie within the call."
EMPTY_SEGMENT = "The segment must end after it starts."
OVERLAP = "The marker would overlap another marker of the call."


def check_name(name: str) -> None:
    if not 1 <= len(name) <= MARKER_NAME_MAX_LENGTH or has_control_character(name):
        raise MarkerRefused("mname", NAME_MALFORMED)


def offset_ms(call: Call, moment: datetime) -> int:
    """Milliseconds from the call's start to `moment`, rounded to the nearest."""
    return max(round((moment - call.started_at).total_seconds() * 1000), 0)


def length_ms(call: Call, now: datetime) -> int:
    """The call's length in milliseconds: to its end, or so far while it goes on."""
    end = call.ended_at if call.ended_at is not None and call.ended_at <= now else now
    return offset_ms(call, end)


def add_marker(
    call_id: uuid.UUID,
    name: str,
    mode: Mode,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    now: datetime | None = None,
) -> Marker:
    """Add a segment, open a marker now (START) or close the open one of that name (END).

    Raises MarkerRefused, having changed nothing, when a rule is broken; Call.DoesNotExist
    when the call is gone.
    """
    check_name(name)
    with transaction.atomic():
        now = now or timezone.now()
        call = Call.objects.select_for_update().get(pk=call_id)
        markers = Marker.objects.filter(call=call)
        if mode is Mode.END:
            closed = _close(call, markers, name, now)
            signals.changed(call, signals.Change.UPDATED)
            return closed
        if markers.filter(name=name).exists():
            raise MarkerRefused("mname", NAME_TAKEN)
        if mode is Mode.START:
            if has_ended(call, now) or call.started_at > now:
                raise MarkerRefused("mmode", NOT_IN_PROGRESS)
            start, end = offset_ms(call, now), None
        else:
            if start_ms is None or end_ms is None:
                raise ValueError("a segment needs start_ms and end_ms")
            if end_ms <= start_ms:
                raise MarkerRefused("mend", EMPTY_SEGMENT)
            if start_ms < 0 or end_ms > length_ms(call, now):
                raise MarkerRefused("mend" if start_ms >= 0 else "mstart", OUTSIDE_CALL)
            start, end = start_ms, end_ms
        if _overlapping(markers, start, end).exists():
            raise MarkerRefused("mname", OVERLAP)
        marker = Marker.objects.create(call=call, name=name, start_ms=start, end_ms=end)
        signals.changed(call, signals.Change.UPDATED)
        return marker


def _close(call: Call, markers: QuerySet[Marker], name: str, now: datetime) -> Marker:
    marker = markers.filter(name=name, end_ms__isnull=True).first()
    if marker is None:
        raise MarkerRefused("mname", NO_OPEN_MARKER)
    # Closed at the call's end if it is over by now.
    marker.end_ms = max(length_ms(call, now), marker.start_ms)
    marker.save(update_fields=["end_ms"])
    return marker


def _overlapping(markers: QuerySet[Marker], start: int, end: int | None) -> QuerySet[Marker]:
    """Markers sharing more than a boundary with [start, end) (end None: open-ended)."""
    reaches_past_start = Q(end_ms__isnull=True) | Q(end_ms__gt=start)
    if end is None:
        return markers.filter(reaches_past_start)
    return markers.filter(reaches_past_start, start_ms__lt=end)


def markers_of(call: Call) -> list[Marker]:
    """The call's closed markers, ordered by start, then name (by code point, whatever the
    database's collation)."""
    closed = Marker.objects.filter(call=call, end_ms__isnull=False)
    return sorted(closed, key=lambda m: (m.start_ms, m.name))
