"""Reading written dates and times: one parser for a moment, one for the span a moment names.

The rule for a time written without a UTC offset, everywhere callportal reads one: it is
UTC (docs/decisions.md: Verba exports UTC without an offset; the server's TIME_ZONE plays
no part), unless the reader refuses such times (the ingestion API asks for an offset).
The staff search form is the one exception, by design: people type times in the zone the
pages show, so it passes that zone to `parse_time_span`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo


class NaiveTime(ValueError):
    """A time without a UTC offset, where the reader asked for one."""


def parse_datetime(text: str, *, naive_is_utc: bool = True) -> datetime:
    """The moment an ISO 8601 date and time names, in UTC.

    Without an offset it is read as UTC, or refused with NaiveTime when `naive_is_utc` is
    false. ValueError for anything that is not a date and time, or overflows in UTC.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise NaiveTime("the time has no UTC offset")
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range in UTC") from None


# YYYY-MM-DD, optionally followed by hh:mm, hh:mm:ss or hh:mm:ss.SSS (ASCII digits only:
# strptime would take other scripts' digits and one-digit months, as int() reads a
# full-width ８ as 8).
_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:([ T])(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{3}))?)?)?", re.ASCII
)
# How long a written moment lasts, by how many of its parts are given.
_UNITS = {
    3: timedelta(days=1),
    5: timedelta(minutes=1),
    6: timedelta(seconds=1),
    7: timedelta(milliseconds=1),
}


def parse_time_span(
    text: str, tz: tzinfo, *, date_only: bool = True, t_separator: bool = True
) -> tuple[datetime, datetime] | None:
    """The [start, end) span a written moment names in time zone `tz`: `2026-11-26` is the
    whole day, `2026-11-26 10:15` the whole minute, `… 10:15:30` the second and
    `… 10:15:30.250` the millisecond, so an inclusive "until" covers what it names.

    `date_only=False` refuses a bare date; `t_separator=False` refuses `2026-11-26T10:15`.
    None for anything else, including moments that do not exist or overflow in UTC.
    """
    match = _MOMENT.fullmatch(text)
    if match is None:
        return None
    separator = match.group(4)
    if (separator is None and not date_only) or (separator == "T" and not t_separator):
        return None
    parts = [int(p) for p in match.groups() if p is not None and p not in " T"]
    if len(parts) == 7:
        parts[6] *= 1000  # milliseconds → microseconds
    try:
        year, month, day, hour, minute, second, microsecond = (*parts, 0, 0, 0, 0)[:7]
        start = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
        end = start + _UNITS[len(parts)]
        # Years near 1 or 9999 overflow on the way to UTC; refuse them here, not in SQL.
        start.astimezone(UTC), end.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return start, end


def call_length(value: timedelta | None) -> str:
    """`0:42`, `12:05` or `1:02:03`: how phone systems show call lengths; "" for none. The
    one format of a duration on the staff pages and in the admin."""
    if value is None:
        return ""
    total = max(int(value.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"
