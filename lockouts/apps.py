from django.apps import AppConfig


class LockoutsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lockouts"
    verbose_name = "Login lockouts"
