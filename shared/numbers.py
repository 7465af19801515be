"""The one rule for a phone number or extension: 1 to 64 characters once trimmed, without
control characters. Every number a call carries (calls.rules.NUMBER: the ingestion API,
PutMedia, the imports, the admin, lookups and searches) and every extension the directory
gives its users (its admin form and its import) follows it, so that every number a call can
carry can be owned, and no owned number is one that no call could carry."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from shared.text import has_control_character

NUMBER_MIN_LENGTH = 1
NUMBER_MAX_LENGTH = 64
# Completes "… must be …" (no capital, no stop): each entry point words its own sentence.
NUMBER_REQUIREMENT = (
    f"{NUMBER_MIN_LENGTH} to {NUMBER_MAX_LENGTH} characters, without control characters"
)


class BadNumber(ValueError):
    """A number the rule refuses."""

    def __init__(self) -> None:
        super().__init__(NUMBER_REQUIREMENT)
        self.requirement = NUMBER_REQUIREMENT


def clean_number(raw: str) -> str:
    """`raw` trimmed of surrounding white space; BadNumber when it breaks the rule."""
    value = raw.strip()
    if not NUMBER_MIN_LENGTH <= len(value) <= NUMBER_MAX_LENGTH or has_control_character(value):
        raise BadNumber()
    return value


def validate_number(value: str) -> None:
    """The rule as a Django validator (a model field's, so every form of it applies it)."""
    try:
        clean_number(value)
    except BadNumber:
        raise ValidationError(f"A number must be {NUMBER_REQUIREMENT}.", code="number") from None
