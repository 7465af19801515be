"""Small display helpers for the staff call pages."""

from datetime import timedelta

from django import template

from calls.states import LABELS
from calls.templatetags.call_csv import wrap_between_words
from shared.times import call_length

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """`0:42`, `12:05` or `1:02:03`: how phone systems show call lengths."""
    return call_length(value)


@register.filter
def seconds(value: timedelta | None) -> int:
    return max(int(value.total_seconds()), 0) if value is not None else 0


@register.filter
def state_label(state: str) -> str:
    """A call state in the site's one vocabulary (calls.states.LABELS)."""
    return LABELS.get(state, "")


@register.filter
def clock_ms(value: int | None) -> str:
    """Milliseconds from a call's start as `0:16.7`: where a marker sits in the recording."""
    if value is None:
        return ""
    whole, tenths = divmod(max(int(value), 0) // 100, 10)
    return f"{duration(timedelta(seconds=whole))}.{tenths}"


# A GUID, an id or a time that wraps only at its hyphens (and the other break points the
# CSV import's preview uses: one definition), never inside a group of digits.
register.filter("break_points", wrap_between_words)
