from django.apps import AppConfig
from django.core.signals import request_started


class CallportalConfig(AppConfig):
    """The project itself as an app: site-wide request handling that must be wired up
    before the first request, and the apps plugged into one another where neither may
    import the other."""

    name = "callportal"
    verbose_name = "callportal"

    def ready(self) -> None:
        from callportal.charsets import guard_request_charset

        # Before Django builds each request (see callportal/charsets.py).
        request_started.connect(guard_request_charset, dispatch_uid="callportal-charset-guard")

        from apikeys.admin import ApiKeyAdmin
        from audit.key_usage import TrailKeyUsage

        # The key admin's request counts and chart, from the audit trail.
        ApiKeyAdmin.usage = TrailKeyUsage()
