from django.apps import AppConfig
from django.core import checks


class VerbaConfig(AppConfig):
    name = "verba"
    verbose_name = "Verba Business API"

    def ready(self) -> None:
        from verba.checks import check_throttle_setting

        checks.register(check_throttle_setting)
