"""The `xml` filter: escaping for the Business API's XML responses."""

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


@register.filter(is_safe=True)
def xml(value: object) -> SafeString:
    """Escape `&`, `<`, `>` and `"` (the contract's set; `'` never delimits our attributes)."""
    return mark_safe(str(value).translate(_ESCAPES))  # noqa: S308 - escaped just above
