from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from calls.views import say_logged_out

        user_logged_out.connect(say_logged_out, dispatch_uid="calls.say_logged_out")
