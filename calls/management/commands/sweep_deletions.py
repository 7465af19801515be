from django.core.management.base import BaseCommand

from calls.deletion import sweep_ended_deletions


class Command(BaseCommand):
    help = (
        "Delete the ended calls that DeleteCall marked while they were going on. Each server "
        "process already does this every DELETION_SWEEP_SECONDS; this runs one pass (for "
        "deployments that set it to 0 and sweep from cron instead)."
    )

    def handle(self, *args: object, **options: object) -> None:
        deleted = sweep_ended_deletions()
        self.stdout.write(f"Deleted {deleted} calls.")
