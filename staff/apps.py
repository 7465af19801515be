from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff pages"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from staff.views import say_logged_out

        user_logged_out.connect(say_logged_out, dispatch_uid="staff.say_logged_out")
