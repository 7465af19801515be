"""handler400: requests Django refuses before any view runs, answered in each API's own way.

A Host header outside ALLOWED_HOSTS raises DisallowedHost in middleware, so neither API's
own error handling ever sees it and Django would answer its HTML "Bad Request" page, which
a Verba client or a recorder cannot read. This only routes by path; each answer's shape
belongs to its API.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import defaults

from verba.codes import Message
from verba.views import refused_request

INGEST_PREFIX = "/api/v1"


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    bad_host = isinstance(exception, DisallowedHost)
    path = request.path_info
    if request.path == reverse("verba-api"):
        return refused_request(
            request, Message.HOST_REFUSED if bad_host else Message.REQUEST_REFUSED
        )
    if path == INGEST_PREFIX or path.startswith(INGEST_PREFIX + "/"):
        detail = (
            "The Host header names a host this server does not serve."
            if bad_host
            else "The request is malformed."
        )
        return JsonResponse({"detail": detail}, status=400)
    return defaults.bad_request(request, exception)
