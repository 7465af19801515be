from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apikeys.services import prune_sessions


class Command(BaseCommand):
    help = (
        "Delete API tokens that expired or were released more than SESSION_RETENTION_DAYS "
        "(or --days) ago, and the staff pages' expired login sessions. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep finished tokens this many days (default: SESSION_RETENTION_DAYS).",
        )

    def handle(self, *args: object, days: int | None, **options: object) -> None:
        keep = settings.SESSION_RETENTION_DAYS if days is None else max(0, days)
        tokens = prune_sessions(timezone.now() - timedelta(days=keep))
        logins = Session.objects.filter(expire_date__lt=timezone.now()).delete()[0]
        self.stdout.write(
            f"Deleted {tokens} API tokens finished over {keep} days ago "
            f"and {logins} expired login sessions."
        )
