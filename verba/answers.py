"""What an API request answers, independent of the format it is rendered in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum

from django.http import HttpResponseBase

from shared.text import clean_text, needs_cleaning
from verba.codes import Code


class Placement(StrEnum):
    ELEMENT = "element"  # XML: <Name>value</Name> after <Response/>
    ATTRIBUTE = "attribute"  # XML: name="value" on <Response/>
    JSON_ONLY = "json"  # not in XML (e.g. expiresAt)


@dataclass(frozen=True)
class Value:
    """One payload value. `name` is its XML name and HTML label, `json_name` its JSON key."""

    name: str
    json_name: str
    value: str
    placement: Placement = Placement.ELEMENT
    link: bool = False


Scalar = str | int | bool | None


@dataclass(frozen=True)
class Item:
    """One named value of a record: an XML child element or attribute, a JSON key, a TEXT
    `name=value` line, an HTML column. The Python type decides how it is written: a bool
    is `true`/`false` (JSON true/false), an int a number, None unknown (`<name/>`, null)."""

    name: str
    value: Scalar

    @property
    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    def cleaned(self) -> Item:
        return replace(self, value=clean_text(self.value)) if isinstance(self.value, str) else self


@dataclass(frozen=True)
class Record:
    """One record of an answer (a call's `<verbacdr>`, a `<verbamarker>`)."""

    tag: str
    items: tuple[Item, ...]
    # XML attributes of the record's element (`state`); JSON keys before the items.
    attributes: tuple[Item, ...] = ()
    # Custom metadata (identifier, value), ordered by identifier; None when not asked for.
    metadata: tuple[tuple[str, str], ...] | None = None
    # XML: all children on the record's own line (`<verbamarker>`), else one per line.
    inline: bool = False

    def cleaned(self) -> Record:
        return replace(
            self,
            items=tuple(i.cleaned() for i in self.items),
            attributes=tuple(i.cleaned() for i in self.attributes),
            metadata=None
            if self.metadata is None
            else tuple((clean_text(k), clean_text(v)) for k, v in self.metadata),
        )


@dataclass(frozen=True)
class Records:
    """The records of a success. In XML they sit inside a non-empty `<Response>`."""

    records: tuple[Record, ...]
    # JSON key: an object for a single record ("call"), else a list ("calls", "markers").
    json_name: str
    # One record (GetCallInformation): TEXT writes `name=value` lines instead of a row.
    single: bool = False
    # XML element around the records, with a `rowcount` attribute (`verbacdrlist`).
    list_tag: str = ""
    # TEXT list rows: these items, tab-separated (every item when empty).
    text_columns: tuple[str, ...] = ()

    def cleaned(self) -> Records:
        return replace(self, records=tuple(r.cleaned() for r in self.records))


@dataclass(frozen=True)
class Answer:
    type: str
    code: Code = Code.OK
    message: str = ""
    values: tuple[Value, ...] = ()
    records: Records | None = None
    # For the audit trail only: the call the answer points to.
    call_id: uuid.UUID | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A media action's success: the file itself, sent as it is instead of a rendered answer.
    media: HttpResponseBase | None = None
    # The zone the answer's times are in (JSON says it): the token user's, else UTC.
    time_zone: str = "UTC"

    @property
    def http_status(self) -> int:
        return self.code.http_status

    @property
    def text(self) -> str:
        """The TEXT body of a success: the first payload value, or OK without one."""
        return self.values[0].value if self.values else "OK"

    @property
    def attributes(self) -> list[Value]:
        return [v for v in self.values if v.placement is Placement.ATTRIBUTE]

    @property
    def elements(self) -> list[Value]:
        return [v for v in self.values if v.placement is Placement.ELEMENT]

    def cleaned(self) -> Answer:
        # Most answers carry nothing to clean: copying them costs more than looking.
        texts = (self.type, self.message, *(v.value for v in self.values))
        if self.records is None and not any(map(needs_cleaning, texts)):
            return self
        return replace(
            self,
            type=clean_text(self.type),
            message=clean_text(self.message),
            values=tuple(replace(v, value=clean_text(v.value)) for v in self.values),
            records=self.records.cleaned() if self.records else None,
        )
