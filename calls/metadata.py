"""Custom metadata on calls: the values of the fields administrators define (AttachMetaData).

A request sets several fields at once, all or nothing: every identifier and value is
checked before anything is written, and the write happens under the call's row lock, so
two requests on one call never interleave.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction

from calls import signals
from calls.models import (
    IDENTIFIER_MAX_LENGTH,
    METADATA_VALUE_MAX_LENGTH,
    Call,
    MetadataField,
    MetadataValue,
)
from shared.text import has_control_character

# Tabs and line breaks are fine in a value (a CRM note); other control characters are not
# (XML cannot carry them, PostgreSQL cannot store NUL).
_ALLOWED_CONTROLS = str.maketrans("", "", "\t\n\r")


class MetadataRefused(Exception):
    """A field or value the request may not set; `name` is the parameter to blame."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass
class AttachResult:
    set: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """For the audit trail: which fields changed (names only, never values)."""
        parts = []
        if self.set:
            parts.append("set " + ", ".join(self.set))
        if self.cleared:
            parts.append("cleared " + ", ".join(self.cleared))
        return "; ".join(parts) or "nothing changed"


def check_values(values: Mapping[str, str]) -> dict[str, MetadataField]:
    """The fields `values` names, by identifier; MetadataRefused for the first identifier
    that is no field the API may set, or whose value is refused."""
    fields = {f.identifier: f for f in MetadataField.objects.filter(identifier__in=list(values))}
    for identifier, value in values.items():
        found = fields.get(identifier)
        if found is None or not found.api_access:
            # Named, but no longer than an identifier can be: the name is the client's text.
            shown = identifier[:IDENTIFIER_MAX_LENGTH]
            raise MetadataRefused(
                identifier, f"The parameter {shown} is not a metadata field the API may set."
            )
        if len(value) > METADATA_VALUE_MAX_LENGTH:
            raise MetadataRefused(
                identifier,
                f"The value of {identifier} is longer than {METADATA_VALUE_MAX_LENGTH} characters.",
            )
        if has_control_character(value.translate(_ALLOWED_CONTROLS)):
            raise MetadataRefused(
                identifier, f"The value of {identifier} contains control characters."
            )
    return fields


def attach_metadata(call_id: uuid.UUID, values: Mapping[str, str]) -> AttachResult:
    """Set each field named by identifier to its value (an empty value clears it).

    Raises MetadataRefused, having changed nothing, for an identifier that is no field or
    whose field has no API access, or for a value that is too long; Call.DoesNotExist when
    the call is gone.
    """
    fields = check_values(values)
    result = AttachResult()
    with transaction.atomic():
        # The whole row: a change is announced with the call as it is (calls.signals).
        call = Call.objects.select_for_update().get(pk=call_id)
        stored = {v.field_id: v for v in MetadataValue.objects.filter(call=call)}
        for identifier in sorted(values):
            value, meta = values[identifier], fields[identifier]
            current = stored.get(meta.pk)
            if not value:
                if current is not None:
                    current.delete()
                    result.cleared.append(identifier)
            elif current is None:
                MetadataValue.objects.create(call=call, field=meta, value=value)
                result.set.append(identifier)
            elif current.value != value:
                current.value = value
                current.save(update_fields=["value"])
                result.set.append(identifier)
        if result.set or result.cleared:
            signals.changed(call, signals.Change.UPDATED)
    return result


@dataclass(frozen=True)
class ShownValue:
    identifier: str
    label: str
    value: str


def metadata_of(call: Call, *, api_only: bool = False) -> list[ShownValue]:
    """The call's field values, ordered by identifier; `api_only` keeps the fields with API
    access (what the Business API may show)."""
    rows = MetadataValue.objects.filter(call=call).select_related("field")
    if api_only:
        rows = rows.filter(field__api_access=True)
    return [
        ShownValue(v.field.identifier, v.field.label, v.value)
        for v in rows.order_by("field__identifier")
    ]


def metadata_by_call(call_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """identifier → value, ordered by identifier, for each of many calls in one query; only
    fields with API access (for SearchCalls and GetCallInformation with returnMetadata=1)."""
    found: dict[uuid.UUID, dict[str, str]] = {}
    rows = (
        MetadataValue.objects.filter(call_id__in=list(call_ids), field__api_access=True)
        .order_by("field__identifier")
        .values_list("call_id", "field__identifier", "value")
    )
    for call_id, identifier, value in rows:
        found.setdefault(call_id, {})[identifier] = value
    return found
