"""manage.py add_webhook URL [--events T,T…] [--group G]… [--description TEXT]: a new endpoint; its
signing secret is the one line written to stdout (for scripts), and is not shown again."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.events import EVENT_TYPES
from webhooks.services import create_endpoint, groups_named


class Command(BaseCommand):
    help = (
        "Add a webhook endpoint. Prints its signing secret (whsec_…) as the only line on "
        "stdout; it is not shown again. Event types: " + ", ".join(EVENT_TYPES) + " (default: all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="https:// URL the events are POSTed to.")
        parser.add_argument(
            "--events",
            default="",
            help="Comma-separated event types (default: all of them).",
        )
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            metavar="G",
            help="Only calls of this directory group's members and supervisors (repeatable).",
        )
        parser.add_argument("--description", default="", help="A note for administrators.")

    def handle(self, *args: Any, **options: Any) -> None:
        event_types = [t.strip() for t in options["events"].split(",") if t.strip()]
        try:
            created = create_endpoint(
                options["url"],
                event_types=event_types,
                groups=groups_named(options["group"]),
                description=options["description"],
            )
        except ValidationError as error:
            raise CommandError(
                " ".join(m for ms in error.message_dict.values() for m in ms)
            ) from None
        self.stdout.write(created.secret)
