from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audit.services import prune_requests


class Command(BaseCommand):
    help = (
        "Delete Business API audit rows older than AUDIT_RETENTION_DAYS (or --days). "
        "Run it daily (cron, a systemd timer or a Kubernetes CronJob) on one server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days (default: AUDIT_RETENTION_DAYS).",
        )

    def handle(self, *args: object, days: int | None, **options: object) -> None:
        keep = settings.AUDIT_RETENTION_DAYS if days is None else days
        if keep < 1:
            self.stdout.write("Retention is off (0 days): nothing deleted.")
            return
        deleted = prune_requests(timezone.now() - timedelta(days=keep))
        self.stdout.write(f"Deleted {deleted} audit rows older than {keep} days.")
