from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # The domain announces its changes inside their transactions (calls.signals); the
        # outbox writes its rows there too, so an event commits or rolls back with its change.
        from calls.signals import calls_changed
        from webhooks.outbox import record_changes

        calls_changed.connect(record_changes, dispatch_uid="webhooks.record_changes")
