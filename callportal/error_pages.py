"""handler400 and handler500: requests Django refuses or fails outside any view's own error
handling, answered in each part of the site's own way.

A Host header outside ALLOWED_HOSTS raises DisallowedHost in middleware, so neither API's
own error handling ever sees it and Django would answer its HTML "Bad Request" page, which
a Verba client or a recorder cannot read. An exception that escapes a view or a middleware
(a staff page or the admin while the database is down) would be Django's plain 500. This
only routes by path; each answer's shape belongs to its API.
"""

from __future__ import annotations

import sys

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.urls import reverse
from django.views import defaults

from ingest.exceptions import INTERNAL_MESSAGE, UNAVAILABLE_MESSAGE
from verba.codes import Code, Message
from verba.views import refused_request

INGEST_PREFIX = "/api/v1"
RETRY_AFTER_SECONDS = "5"  # as the ingestion API answers a database outage


def _is_ingest(request: HttpRequest) -> bool:
    path = request.path_info
    return path == INGEST_PREFIX or path.startswith(INGEST_PREFIX + "/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    bad_host = isinstance(exception, DisallowedHost)
    if request.path == reverse("verba-api"):
        return refused_request(
            request, Message.HOST_REFUSED if bad_host else Message.REQUEST_REFUSED
        )
    if _is_ingest(request):
        detail = (
            "The Host header names a host this server does not serve."
            if bad_host
            else "The request is malformed."
        )
        return JsonResponse({"detail": detail}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """A database that is down or refusing → 503 ("try again"); anything else → 500."""
    # Django calls this while handling the exception, which handler500 is not given.
    unavailable = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    response: HttpResponse
    if request.path == reverse("verba-api"):
        response = refused_request(request, Message.UNAVAILABLE, Code.UNAVAILABLE)
    elif _is_ingest(request):
        detail = UNAVAILABLE_MESSAGE if unavailable else INTERNAL_MESSAGE
        response = JsonResponse({"detail": detail}, status=503 if unavailable else 500)
    elif unavailable:
        # Rendered without a request context: nothing on it may need the database.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    else:
        return defaults.server_error(request)
    if response.status_code == 503:
        response["Retry-After"] = RETRY_AFTER_SECONDS
    return response
