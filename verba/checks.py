"""System checks: a mistyped API_THROTTLE or API_TOKEN_THROTTLE is reported at start-up, not
on the first request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from verba.throttling import parse_rate


def check_throttle_setting(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for setting, check_id in (("API_THROTTLE", "verba.E001"), ("API_TOKEN_THROTTLE", "verba.E002")):
        try:
            parse_rate(getattr(settings, setting), setting)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id=check_id))
    return errors
