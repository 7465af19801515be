"""Strict reading of the text that arrives from outside: GUIDs and characters XML cannot carry.

Shared by the API transports (answers, parameters) and the audit trail, which may not import
the transports. Python's own parsers are too lenient here: `uuid.UUID` accepts `urn:` and
`{…}` forms, dashes anywhere and non-ASCII digits (int() reads a full-width ８ as 8), and
`str.upper()` maps ſ to S.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, tzinfo

# Characters XML 1.0 cannot carry: C0 controls except tab, LF and CR; surrogates; U+FFFE/F.
# PostgreSQL cannot store the first of them (NUL) in a text column either.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"

# The canonical 8-4-4-4-12 form, ASCII hex digits in any letter case, nothing around it.
_GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)
# Every C0 control character and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def clean_text(value: str) -> str:
    """`value` with every character XML cannot carry replaced by U+FFFD.

    Replaced, not dropped, so a reader can see that something was there.
    """
    return _NOT_XML.sub(REPLACEMENT, value)


def has_control_character(value: str) -> bool:
    return _CONTROL.search(value) is not None


def parse_guid(raw: str) -> uuid.UUID | None:
    """The GUID `raw` spells in the canonical form (any letter case), else None."""
    if _GUID.fullmatch(raw) is None:
        return None
    return uuid.UUID(raw)


# YYYY-MM-DD, optionally followed by hh:mm, hh:mm:ss or hh:mm:ss.SSS (ASCII digits only:
# strptime would take other scripts' digits and one-digit months).
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
        start = datetime(*parts, tzinfo=tz)  # type: ignore[misc]
        end = start + _UNITS[len(parts)]
        # Years near 1 or 9999 overflow on the way to UTC; refuse them here, not in SQL.
        start.astimezone(UTC), end.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return start, end
