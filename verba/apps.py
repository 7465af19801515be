from django.apps import AppConfig
from django.core import checks


class VerbaConfig(AppConfig):
    name = "verba"
    verbose_name = "Verba Business API"

    def ready(self) -> None:
        from calls.models import reserve_identifiers
        from verba.actions import reserved_names
        from verba.checks import check_throttle_setting

        checks.register(check_throttle_setting)
        # No custom metadata field may be named like a parameter an action declares.
        reserve_identifiers(reserved_names)
