"""System checks: a mistyped API_THROTTLE, API_TOKEN_THROTTLE (or their store) is reported
at start-up, not on the first request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from verba.throttling import STORES, parse_rate


def check_throttle_setting(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        parse_rate(settings.API_THROTTLE)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="verba.E001")]
    try:
        parse_rate(settings.API_TOKEN_THROTTLE, "API_TOKEN_THROTTLE")
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="verba.E004")]
    store = settings.API_THROTTLE_STORE
    if store not in STORES:
        return [
            Error(
                f"API_THROTTLE_STORE must be one of {', '.join(STORES)}, not {store!r}.",
                id="verba.E002",
            )
        ]
    if store == "redis" and "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return [
            Error(
                "API_THROTTLE_STORE=redis needs REDIS_URL (the Redis the throttle counts in).",
                id="verba.E003",
            )
        ]
    return []
