from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from access_log.services import prune_access_log


class Command(BaseCommand):
    help = (
        "Delete access log events older than ACCESS_LOG_RETENTION_DAYS (default 730; 0 keeps "
        "every event). The only way events are ever removed. Run it daily."
    )

    def handle(self, *args: object, **options: object) -> None:
        keep = settings.ACCESS_LOG_RETENTION_DAYS
        if keep <= 0:
            self.stdout.write("ACCESS_LOG_RETENTION_DAYS is 0: every access log event is kept.")
            return
        removed = prune_access_log(timezone.now() - timedelta(days=keep))
        self.stdout.write(f"Deleted {removed} access log events older than {keep} days.")
