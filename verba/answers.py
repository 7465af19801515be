"""What an API request answers, independent of the format it is rendered in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum

from django.http import HttpResponseBase

from calls.text import clean_text
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


@dataclass(frozen=True)
class Answer:
    type: str
    code: Code = Code.OK
    message: str = ""
    values: tuple[Value, ...] = ()
    # For the audit trail only: the call the answer points to.
    call_id: uuid.UUID | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A media action's success: the file itself, sent as it is instead of a rendered answer.
    media: HttpResponseBase | None = None

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
        return replace(
            self,
            type=clean_text(self.type),
            message=clean_text(self.message),
            values=tuple(replace(v, value=clean_text(v.value)) for v in self.values),
        )
