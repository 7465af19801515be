"""URLs the Business API hands out."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest

# Verba's documented deep link to a call ("Direct URL Access"); integrations store these.
CALL_DETAIL_PATH = "/verba/gwtCallDetail.do"


def public_base(request: HttpRequest | None) -> str:
    """PUBLIC_URL, or the scheme and host the request came in on (proxy headers honoured
    as the proxy settings say)."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if request is None:
        raise ValueError("PUBLIC_URL is not set, so a request is needed to build a URL")
    return request.build_absolute_uri("/").rstrip("/")


def call_url(request: HttpRequest | None, call_id: uuid.UUID | str) -> str:
    """The full URL of a call's staff page, as GetCallURL answers it."""
    return f"{public_base(request)}{CALL_DETAIL_PATH}?ccdrId={call_id}"
