"""The `charset` of a request's Content-Type: it never breaks a request, and never changes
how the query string reads.

Django takes that charset as the encoding of the whole request, query string included, and
decodes the query string while it builds the request object. A charset Python knows but
cannot decode text with (`undefined`, `rot13`, `hex`, `idna`, `punycode`...) therefore
raises before any middleware or view runs, on any URL and even on a GET: under gunicorn that
is gunicorn's own HTML 500. A real but foreign charset (`cp037`) reads the query string as
EBCDIC. Query strings are UTF-8 percent-encoding whatever the header says.

Two pieces, because the first must act before Django builds the request:

- `guard_request_charset` receives `request_started`, which the WSGI handler, the test
  client and the live test server all send with the WSGI environ *before* building the
  request. A charset that cannot decode text is taken out of the Content-Type, and a body
  declared in it becomes unreadable: reading it raises `BadRequest`, which each part of the
  site answers in its own way (Business API code 1, ingestion JSON 400, the site's 400 page).
- `QueryStringMiddleware` (first in MIDDLEWARE) reads the query string as UTF-8 when the
  body's charset is another one; the body keeps its declared charset (Java clients send
  forms as `charset=ISO-8859-1`).

callportal is served over WSGI (gunicorn); the ASGI entry point is Django's stock one.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from django.core.exceptions import BadRequest
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.http import parse_header_parameters

# Python codecs that decode bytes to text but are no charset of an HTTP body.
NOT_CHARSETS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})

REFUSED_MESSAGE = "The request body's charset is not one this server can decode."


def is_usable_charset(name: str) -> bool:
    """Whether a body declared in charset `name` can be decoded as text."""
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return False
    if canonical in NOT_CHARSETS:
        return False
    try:
        b"x".decode(canonical)
    except UnicodeDecodeError:
        return True  # a text codec (UTF-16 needs two bytes), just not of this byte
    except (LookupError, UnicodeError):
        return False  # a bytes/text transform (hex, rot13, zlib...) or `undefined`
    return True


class RefusedBody:
    """Stands in for the body of a request whose charset cannot be decoded."""

    def read(self, *args: Any) -> bytes:
        raise BadRequest(REFUSED_MESSAGE)

    readline = read


def guard_request_charset(
    sender: Any, environ: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """request_started: make a request with an undecodable charset safe to build."""
    if environ is None:  # ASGI: not served (see the module docstring)
        return
    content_type, params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))
    charset = params.pop("charset", "")
    if not charset or is_usable_charset(charset):
        return
    # Without the charset Django reads the request as UTF-8 (its default).
    environ["CONTENT_TYPE"] = "; ".join(
        [content_type, *(f'{name}="{_quoted(value)}"' for name, value in params.items())]
    )
    if _content_length(environ) > 0:
        environ["wsgi.input"] = RefusedBody()


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _content_length(environ: dict[str, Any]) -> int:
    # As Django counts it: a missing or malformed length is no body.
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class QueryStringMiddleware:
    """Reads the query string as UTF-8, whatever charset the Content-Type names."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        encoding = request.encoding
        if encoding and codecs.lookup(encoding).name != "utf-8":
            raw = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")
            request.GET = QueryDict(raw, encoding="utf-8")
        return self.get_response(request)
