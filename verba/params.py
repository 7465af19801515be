"""Reading the Business API's parameters from the query string, the form body and headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request

from shared.times import parse_time_span
from verba.codes import Message, invalid

# The transport's own parameters, read before any action's (every action's own are declared
# on its form, verba/forms.py).
TRANSPORT_NAMES = frozenset({"action", "apiKey", "token", "responseType"})

_EMPTY = QueryDict()


@dataclass(frozen=True)
class Params:
    """The parameters of one request. Names are case-sensitive; the body wins over the URL."""

    query: QueryDict
    body: QueryDict
    # Why the request could not be read (too many fields, too big, not a form), if so.
    unreadable: str | None = None
    # The zone of the request's times (§7.0): the token user's, else UTC.
    zone: tzinfo = UTC

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


# Room for a multipart body's form fields (bounded by DATA_UPLOAD_MAX_MEMORY_SIZE) and its
# part headers and boundaries, besides the file itself.
_FORM_ROOM_BYTES = 64 * 1024


class BoundedUpload(FileUploadHandler):
    """Stops reading a multipart body as soon as its files pass RECORDING_MAX_BYTES, or
    before reading it at all when its Content-Length says so: no file that big is ever
    spooled to disk, whatever the action (only PutMedia reads files)."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit: int = settings.RECORDING_MAX_BYTES
        self.file_bytes = 0
        self.too_large = False

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        # django-stubs says str; Django's MultiPartParser passes bytes.
        boundary: bytes,  # type: ignore[override]
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict] | None:
        fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        if content_length > self.limit + fields + _FORM_ROOM_BYTES:
            self.too_large = True
            # Parsed as empty, unread: the answer says why.
            return QueryDict(), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.file_bytes += len(raw_data)
        if self.file_bytes > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data  # on to the handlers that keep it

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers make the file


def file_too_large() -> str:
    return Message.FILE_TOO_LARGE.format(limit=settings.RECORDING_MAX_BYTES)


def _read(request: Request) -> Params:
    try:
        query = request.query_params
    except SuspiciousOperation:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Params(query=_EMPTY, body=_EMPTY, unreadable=Message.TOO_LARGE)
    if request.method != "POST":
        return Params(query=query, body=_EMPTY)
    bound = BoundedUpload(request._request)
    request._request.upload_handlers = [bound, *request._request.upload_handlers]
    try:
        # Form fields only: uploaded files are never parameters.
        body = request.POST
    except SuspiciousOperation:  # too many fields, or more than DATA_UPLOAD_MAX_MEMORY_SIZE
        return Params(query=query, body=_EMPTY, unreadable=Message.TOO_LARGE)
    except (ParseError, UnsupportedMediaType):
        return Params(query=query, body=_EMPTY, unreadable=Message.BODY_UNREADABLE)
    except BadRequest:  # a charset that cannot decode text (callportal/charsets.py)
        return Params(query=query, body=_EMPTY, unreadable=Message.BODY_CHARSET)
    except OSError:
        # The body stopped arriving (REQUEST_BODY_TIMEOUT_SECONDS) or the client went away
        # mid-body: answered in the format the query asks for, like any unreadable body.
        return Params(query=query, body=_EMPTY, unreadable=Message.BODY_STOPPED)
    if bound.too_large:
        return Params(query=query, body=_EMPTY, unreadable=file_too_large())
    return Params(query=query, body=body)


# How the contract writes a time parameter (SearchCalls' start and end, PutMedia's
# starttime and endtime): UTC, to the minute, the second or the millisecond.
TIME_FORMS = "YYYY-MM-DD hh:mm, YYYY-MM-DD hh:mm:ss or YYYY-MM-DD hh:mm:ss.SSS (UTC)"


def time_span(params: Params, name: str) -> tuple[datetime, datetime]:
    """The [first, last] span time parameter `name` covers (`…hh:mm` is its whole minute),
    read as wall-clock time in the request's zone (`params.zone`: the token user's, else
    UTC); code 1 naming the parameter when it is missing or malformed."""
    raw = params.get(name)
    if raw is None:
        raise invalid(f"The {name} parameter is required: {TIME_FORMS}.")
    span = parse_time_span(raw.strip(), params.zone, date_only=False, t_separator=False)
    if span is None:
        raise invalid(f"The {name} parameter must be {TIME_FORMS}.")
    return span
