"""The CSV import's preview in the site's words: each row's errors beside it, and values
that wrap between words (and at a GUID's or a time's hyphens), never inside one."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from calls.cdr_csv import HEADINGS

register = template.Library()

# Where a long value may wrap besides white space: after a hyphen (a GUID's groups, a date's
# parts), before an "@" (user@host ids), and between an ISO time's date, time of day and
# "+hh:mm" offset.
_BREAKS = re.compile(r"(?<=-)|(?=@)|(?<=\dT)(?=\d)|(?<=\d)(?=\+)")
_TAG = re.compile(r"(<[^>]*>)")


@register.filter
def wrap_between_words(value: Any) -> SafeString:
    """The value as HTML with <wbr> at its break points; markup already in it (import-export's
    diff of a changed cell) is kept, and only its text gets break points."""
    html = str(conditional_escape(value))
    parts = _TAG.split(html)
    return mark_safe(  # noqa: S308 - escaped above; only <wbr> added between text
        "".join(part if _TAG.fullmatch(part) else _BREAKS.sub("<wbr>", part) for part in parts)
    )


def _heading(key: str) -> str:
    return HEADINGS.get(key, key)


@register.filter
def errors_in_words(row: Any) -> list[tuple[str, str]]:
    """(column heading, message) for each of an invalid row's errors; a message about the
    row as a whole is headed "Row"."""
    found = [
        (_heading(key), str(message))
        for key, messages in row.field_specific_errors.items()
        for message in messages
    ]
    found += [("Row", str(message)) for message in row.non_field_specific_errors]
    return found


@register.filter
def cells(row: Any, headers: list[str]) -> list[tuple[Any, bool]]:
    """(value, whether the value is at fault) for each column of an invalid row."""
    at_fault = {_heading(key) for key in row.field_specific_errors}
    return [(value, header in at_fault) for value, header in zip(row.values, headers, strict=False)]
