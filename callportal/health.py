"""Health endpoints for the load balancer and the process supervisor.

- `/healthz` — the process is up and answers requests. It touches no database, so a
  database outage does not make every app server look dead (restarting them would not help).
- `/readyz` — this server can serve: the database answers `SELECT 1`. 503 otherwise, so a
  load balancer stops sending traffic here until the database (or the pool) is back.

Both answer plain text, need no login and no allowed method but GET/HEAD, and are never
redirected to HTTPS (settings: SECURE_REDIRECT_EXEMPT), since probes often speak plain HTTP.
"""

from __future__ import annotations

import logging

from django.db import Error, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def _plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return _plain("ok")


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Error as error:  # OperationalError, InterfaceError (a closed connection), ...
        # Only the failure's class: connection strings may carry a password.
        logger.warning("readyz: database unavailable (%s)", type(error).__name__)
        return _plain("database unavailable", status=503)
    return _plain("ready")
