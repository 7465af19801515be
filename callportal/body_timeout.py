"""A request body that stops arriving is given up, instead of holding its request forever.

gunicorn's sockets wait without a limit by default: a client that announces a body
(Content-Length) and stops sending it holds its request, and whatever that request holds,
for as long as it likes (issue 19: twelve stalled uploads held every pooled database
connection). This middleware gives the request's socket a timeout for each read (and
write): REQUEST_BODY_TIMEOUT_SECONDS without a byte, and the read fails with TimeoutError,
which the APIs answer as a body that could not be read (the ingestion API: 408; the
Business API: code 1 in the requested format).

It only applies under gunicorn (the socket is in `environ["gunicorn.socket"]`); a proxy in
front should have its own client body timeout too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


class BodyReadTimeout:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        connection = request.META.get("gunicorn.socket")
        timeout = settings.REQUEST_BODY_TIMEOUT_SECONDS
        if connection is not None and timeout > 0:
            connection.settimeout(timeout)
        return self.get_response(request)
