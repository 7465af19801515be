from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def in_words(duration: timedelta) -> str:
    """A lockout's length as people say it: "15 minutes", "1 hour 30 minutes", "2 days"."""
    minutes = int(duration.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if n
    ]
    return " ".join(parts) or "less than a minute"
