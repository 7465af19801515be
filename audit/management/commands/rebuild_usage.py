from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audit.services import rebuild_usage


class Command(BaseCommand):
    help = (
        "Recount the hourly per-key usage the admin shows from the raw audit rows: every "
        "hour from the oldest raw row's on, or the last --days days. Safe while the API runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Only the last DAYS days (default: all)."
        )

    def handle(self, *args: object, days: int | None, **options: object) -> None:
        since = timezone.now() - timedelta(days=days) if days else None
        written = rebuild_usage(since)
        self.stdout.write(f"Wrote {written} hourly usage rows.")
