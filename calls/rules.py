"""The input rules for a call's data: one definition each, used by every entry point.

The ingestion API, both CSV imports, PutMedia, the admin's call form, the Business API's
lookups and SearchCalls, and the staff search all read numbers, names, identifiers, GUIDs
and time spans from outside through these rules, so that a value one of them accepts is
accepted by all of them (and a value stored through one can be found through the others).
`calls/tests/test_input_rules.py` feeds the same hostile values to every entry point.

Lengths are read from the model's fields, never written out again. Each entry point words
a refusal in its own format around `Refused.requirement` ("must be …"), naming its own
field or parameter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import models

from calls.models import Call
from shared.guids import parse_guid
from shared.numbers import NUMBER_MIN_LENGTH, NUMBER_REQUIREMENT, BadNumber, clean_number
from shared.text import has_control_character


class Refused(ValueError):
    """A value a rule refuses. `requirement` completes "must be …" (no capital, no stop)."""

    def __init__(self, requirement: str) -> None:
        super().__init__(requirement)
        self.requirement = requirement

    def sentence(self, subject: str) -> str:
        """The refusal as a sentence about `subject`: "The extension parameter must be …"."""
        return f"{subject} must be {self.requirement}."


def _max_length(*fields: str) -> int:
    lengths = {_field_max_length(name) for name in fields}
    if len(lengths) != 1:
        # One rule for several columns only while they agree; a migration that changes one
        # of them must split the rule.
        raise RuntimeError(f"The fields {fields} do not share one max_length: {lengths}")
    (length,) = lengths
    return length


def _field_max_length(name: str) -> int:
    field = Call._meta.get_field(name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise RuntimeError(f"Call.{name} is not a text field with a max_length")
    return field.max_length


@dataclass(frozen=True)
class TextRule:
    """Text from outside: trimmed of surrounding white space, then `min_length` to the
    model's max_length characters, without control characters (C0 and DEL: no number,
    name or id holds one, XML cannot carry most, and PostgreSQL cannot store NUL)."""

    fields: tuple[str, ...]
    min_length: int = 0

    @property
    def max_length(self) -> int:
        return _max_length(*self.fields)

    @property
    def requirement(self) -> str:
        if self.min_length:
            size = f"{self.min_length} to {self.max_length} characters"
        else:
            size = f"at most {self.max_length} characters"
        return f"{size}, without control characters"

    def clean(self, raw: str) -> str:
        """`raw` trimmed; Refused when it breaks the rule."""
        value = raw.strip()
        if not self.min_length <= len(value) <= self.max_length or has_control_character(value):
            raise Refused(self.requirement)
        return value

    def accepts(self, raw: str) -> bool:
        try:
            self.clean(raw)
        except Refused:
            return False
        return True


@dataclass(frozen=True)
class NumberRule(TextRule):
    """A number: the rule of shared.numbers, which the directory's extensions follow too."""

    @property
    def requirement(self) -> str:
        return NUMBER_REQUIREMENT

    def clean(self, raw: str) -> str:
        try:
            return clean_number(raw)
        except BadNumber:
            raise Refused(self.requirement) from None


# A phone number or extension: the caller's or the called party's, and any lookup or
# search by number (a part of a number searched for follows it too).
NUMBER = NumberRule(("caller_number", "called_number"), min_length=NUMBER_MIN_LENGTH)
# A party's name; empty when not known.
NAME = TextRule(("caller_name", "called_name"))
# The ids other systems give a call (the recorder's native ID, the PBX's platform call ID),
# matched exactly; empty when not known.
IDENTIFIER = TextRule(("native_id", "platform_call_id"))
# What a search by part of a number or of a name reads (SearchCalls' anynum and anyname,
# the staff call list): a part of a number as a number, a part of a name as a name; neither
# empty.
NUMBER_PART = NUMBER
NAME_PART = replace(NAME, min_length=1)

# Each writable text field of a call, and its rule.
FIELD_RULES: dict[str, TextRule] = {
    "caller_number": NUMBER,
    "called_number": NUMBER,
    "caller_name": NAME,
    "called_name": NAME,
    "native_id": IDENTIFIER,
    "platform_call_id": IDENTIFIER,
}

GUID_REQUIREMENT = "a GUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"


def guid(raw: str) -> uuid.UUID:
    """A call's id: the one GUID spelling `shared.guids` accepts (any letter case), with
    the white space a copy and paste brings along forgiven. `{…}`, `urn:uuid:…`, 32 bare hex
    digits and other digits than ASCII are refused (Refused)."""
    value = parse_guid(raw.strip())
    if value is None:
        raise Refused(GUID_REQUIREMENT)
    return value


# The one wording of the one rule about time spans (a call's start and end, PutMedia's
# starttime and endtime, a search period's start and end).
END_BEFORE_START = "The end cannot be before the start."


class EndBeforeStart(ValueError):
    def __init__(self) -> None:
        super().__init__(END_BEFORE_START)
        self.message = END_BEFORE_START


def check_span(start: datetime | None, end: datetime | None) -> None:
    """EndBeforeStart when both are known and the end is before the start (an end equal
    to the start is a call of no length, and allowed)."""
    if start is not None and end is not None and end < start:
        raise EndBeforeStart()


def clean_fields(values: dict[str, Any]) -> dict[str, str]:
    """Apply the rules to the call fields in `values` (a form's or an import row's): each
    text field given is replaced by its cleaned value. The refusals, by field name, as
    sentences ("This field must be …"); empty when every value passes."""
    errors: dict[str, str] = {}
    for name, rule in FIELD_RULES.items():
        value = values.get(name)
        if isinstance(value, str):
            try:
                values[name] = rule.clean(value)
            except Refused as refused:
                errors[name] = refused.sentence("This field")
    try:
        check_span(values.get("started_at"), values.get("ended_at"))
    except EndBeforeStart as refused:
        errors.setdefault("ended_at", refused.message)
    return errors
