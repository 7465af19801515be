"""System checks: a mistyped API_THROTTLE is reported at start-up, not on the first request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from verba.throttling import parse_rate


def check_throttle_setting(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        parse_rate(settings.API_THROTTLE)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="verba.E001")]
    return []
