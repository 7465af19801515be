from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from webhooks.services import prune_log


class Command(BaseCommand):
    help = (
        "Delete webhook messages (with their deliveries and attempts) older than "
        "WEBHOOK_RETENTION_DAYS (or --days) that nothing waits to send any more. Run it "
        "daily (cron, a systemd timer or a Kubernetes CronJob) on one server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days (default: WEBHOOK_RETENTION_DAYS).",
        )

    def handle(self, *args: object, days: int | None, **options: object) -> None:
        keep = settings.WEBHOOK_RETENTION_DAYS if days is None else days
        if keep < 1:
            self.stdout.write("Retention is off (0 days): nothing deleted.")
            return
        deleted = prune_log(timezone.now() - timedelta(days=keep))
        self.stdout.write(f"Deleted {deleted} webhook messages older than {keep} days.")
