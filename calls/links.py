"""The public link to a call: what GetCallURL hands out, the staff page's "copy link" and
the admin show. One builder, so the three can never disagree."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse


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
    return f"{public_base(request)}{_detail_path(get_script_prefix(), get_urlconf())}?{query}"


# Reversing the route costs more than the rest of GetCallURL's answer; it only changes with
# the script prefix and the URL configuration.
@lru_cache(maxsize=16)
def _detail_path(script_prefix: str, urlconf: str | None) -> str:
    return reverse("calls:verba_detail", urlconf=urlconf)


@receiver(setting_changed)
def _forget_detail_path(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _detail_path.cache_clear()
