from django.apps import AppConfig


class AccessLogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "access_log"
    verbose_name = "Access log"
