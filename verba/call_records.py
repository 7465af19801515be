"""A call as Verba's `<verbacdr>` record (contract §7.0, §7.13), for GetCallInformation and
SearchCalls, and a marker as its `<verbamarker>` (§7.7), for GetMarkers. The renderers write
them in each format (verba/renderers.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from uuid import UUID

from calls.models import Call, Direction, Marker
from calls.states import State, call_state
from verba.answers import Item, Record, Records

# Verba's direction_id (callportal adds 1 and 2; Verba's table shows 0 = internal only).
# Keyed by the stored text (a TextChoices member is equal to its value).
DIRECTION_IDS: dict[str, int] = {Direction.INTERNAL: 0, Direction.INBOUND: 1, Direction.OUTBOUND: 2}

# A TEXT list row: these fields, tab-separated.
LIST_TEXT_COLUMNS = (
    "ccdr_id",
    "start_time",
    "end_time",
    "source_caller_id",
    "destination_caller_id",
)


def answer_time(moment: datetime | None, zone: tzinfo = UTC) -> str | None:
    """`YYYY-MM-DD hh:mm:ss.SSS` in `zone` (the token user's, else UTC; milliseconds cut,
    not rounded); None when unknown."""
    if moment is None:
        return None
    t = moment.astimezone(zone)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}"
    )


def answer_duration(length: timedelta) -> str:
    """`h:mm:ss`, whole seconds rounded down; hours are not capped at 24."""
    seconds = max(int(length.total_seconds()), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def call_record(
    call: Call,
    *,
    now: datetime,
    metadata: Mapping[str, str] | None = None,
    zone: tzinfo = UTC,
) -> Record:
    """The call's `<verbacdr>`; `metadata` (identifier → value) only when it was asked for.

    `state` is 1 for a finished call (an end at or before `now`), 0 for one in progress,
    including a call with an end still to come and one whose end was never recorded.
    """
    finished = call_state(call, now) == State.FINISHED
    until = call.ended_at if finished and call.ended_at is not None else now
    return Record(
        tag="verbacdr",
        attributes=(Item("state", 1 if finished else 0),),
        items=(
            Item("ccdr_id", str(call.pk)),
            Item("native_id", call.native_id or None),
            Item("source_caller_id", call.caller_number or None),
            Item("source_name", call.caller_name or None),
            Item("destination_caller_id", call.called_number or None),
            Item("destination_name", call.called_name or None),
            Item("start_time", answer_time(call.started_at, zone)),
            Item("end_time", answer_time(call.ended_at, zone)),
            Item("duration", answer_duration(until - call.started_at)),
            Item("direction_id", DIRECTION_IDS.get(call.direction)),
            Item("platform_call_id", call.platform_call_id or None),
            # callportal keeps every call: none is recorded "on demand".
            Item("ondemand", False),
            Item("do_not_delete", 1 if call.keep else 0),
            Item("media", bool(call.recording)),
        ),
        metadata=None if metadata is None else tuple(sorted(metadata.items())),
    )


def one_call(
    call: Call,
    *,
    now: datetime,
    metadata: Mapping[str, str] | None = None,
    zone: tzinfo = UTC,
) -> Records:
    """GetCallInformation's answer: the record alone inside `<Response>`, JSON `"call"`."""
    return Records(
        records=(call_record(call, now=now, metadata=metadata, zone=zone),),
        json_name="call",
        single=True,
    )


def call_list(
    calls: Iterable[Call],
    *,
    now: datetime,
    metadata: Mapping[UUID, Mapping[str, str]] | None = None,
    zone: tzinfo = UTC,
) -> Records:
    """SearchCalls' answer: `<verbacdrlist rowcount="N">`, JSON `"calls"`. `metadata` maps
    call ids to their fields (a call missing from it has none); None when not asked for."""
    return Records(
        records=tuple(
            call_record(
                call,
                now=now,
                metadata=None if metadata is None else metadata.get(call.pk, {}),
                zone=zone,
            )
            for call in calls
        ),
        json_name="calls",
        list_tag="verbacdrlist",
        text_columns=LIST_TEXT_COLUMNS,
    )


def marker_record(marker: Marker) -> Record:
    """One `<verbamarker>` on one line, as Verba's sample: name, start and end in ms."""
    return Record(
        tag="verbamarker",
        items=(
            Item("name", marker.name),
            Item("start", marker.start_ms),
            Item("end", marker.end_ms),
        ),
        inline=True,
    )


def marker_list(markers: Iterable[Marker]) -> Records:
    """GetMarkers' answer: the records inside `<Response>` (none: a self-closing
    `<Response/>`), JSON `"markers"`, TEXT one `name<TAB>start<TAB>end` row each."""
    return Records(records=tuple(marker_record(m) for m in markers), json_name="markers")
