"""The public link to a call: what GetCallURL hands out, the staff page's "copy link" and
the admin show. One builder, so the three can never disagree."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


def public_base(request: HttpRequest | None) -> str:
    """PUBLIC_URL, or the scheme and host the request came in on (proxy headers honoured
    as the proxy settings say)."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if request is None:
        raise ValueError("PUBLIC_URL is not set, so a request is needed to build a URL")
    return request.build_absolute_uri("/").rstrip("/")


def call_url(request: HttpRequest | None, call_id: uuid.UUID | str) -> str:
    """The full URL of a call's page at Verba's documented deep link
    (/verba/gwtCallDetail.do?ccdrId=…), which integrations store."""
    query = urlencode({"ccdrId": str(call_id)})
    return f"{public_base(request)}{reverse('calls:verba_detail')}?{query}"
