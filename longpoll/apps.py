from typing import Any

from django.apps import AppConfig


class LongpollConfig(AppConfig):
    name = "longpoll"
    verbose_name = "Long poll"

    def ready(self) -> None:
        from calls.models import Call
        from calls.signals import call_written

        call_written.connect(_announce, sender=Call, dispatch_uid="longpoll.announce")


def _announce(sender: Any, call: Any, **kwargs: Any) -> None:
    from longpoll.watcher import announce

    announce(call)
