"""Reading the Business API's parameters from the query string, the form body and headers."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import QueryDict
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request

from verba.codes import Message

# The documented names, named in "given more than once" messages; any other name is not
# echoed back.
KNOWN_NAMES = frozenset(
    {
        "action",
        "apiKey",
        "token",
        "responseType",
        "callID",
        "extension",
        "status",
        "userName",
        "password",
        # Naming a call (§7.0).
        "ccdr_id",
        "cid",
        "platformCallID",
        "nativeID",
        "returnMetadata",
        # SearchCalls (§7.3).
        "anynum",
        "anyname",
        "orderby",
        "order",
        "pagelen",
        "pagefirst",
        # SearchCalls and the media actions (§7.3, §7.8–§7.11).
        "start",
        "end",
        # The media actions.
        "format",
        "width",
        "height",
        "isColorDefined",
        "bgColor",
        "maxColor",
        "minColor",
        "transparency",
    }
)

_EMPTY = QueryDict()


@dataclass(frozen=True)
class Params:
    """The parameters of one request. Names are case-sensitive; the body wins over the URL."""

    query: QueryDict
    body: QueryDict
    # Why the request could not be read (too many fields, too big, not a form), if so.
    unreadable: str | None = None

    def get(self, name: str) -> str | None:
        """The value of `name`, or None when it is absent or empty."""
        place = self.body if name in self.body else self.query
        value = place.get(name)
        return value or None

    def get_all(self, name: str) -> list[str]:
        """Every non-empty value of a repeatable `name`, from the body when it has the name
        (as `get`), else from the URL; in the order given."""
        place = self.body if name in self.body else self.query
        return [value for value in place.getlist(name) if value]

    def is_repeated(self, name: str) -> bool:
        return len(self.query.getlist(name)) > 1 or len(self.body.getlist(name)) > 1

    def repeated_names(self) -> list[str]:
        return [
            name
            for place in (self.query, self.body)
            for name, values in place.lists()
            if len(values) > 1
        ]


def request_params(request: Request) -> Params:
    """The request's parameters, read once and kept on the request."""
    params = getattr(request, "_verba_params", None)
    if params is None:
        params = _read(request)
        request._verba_params = params  # type: ignore[attr-defined]
    return params


def _read(request: Request) -> Params:
    try:
        query = request.query_params
    except SuspiciousOperation:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Params(query=_EMPTY, body=_EMPTY, unreadable=Message.TOO_LARGE)
    if request.method != "POST":
        return Params(query=query, body=_EMPTY)
    try:
        # Form fields only: uploaded files are never parameters.
        body = request.POST
    except SuspiciousOperation:  # too many fields, or more than DATA_UPLOAD_MAX_MEMORY_SIZE
        return Params(query=query, body=_EMPTY, unreadable=Message.TOO_LARGE)
    except (ParseError, UnsupportedMediaType):
        return Params(query=query, body=_EMPTY, unreadable=Message.BODY_UNREADABLE)
    except BadRequest:  # a charset that cannot decode text (callportal/charsets.py)
        return Params(query=query, body=_EMPTY, unreadable=Message.BODY_CHARSET)
    return Params(query=query, body=body)
