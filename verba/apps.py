from django.apps import AppConfig


class VerbaConfig(AppConfig):
    name = "verba"
    verbose_name = "Verba Business API"
