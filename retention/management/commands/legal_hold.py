import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from retention.models import LegalHold
from retention.services import command_user, create_hold, release_hold
from shared.times import parse_datetime


def _moment(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError:
        raise ValueError(text) from None


class Command(BaseCommand):
    help = (
        "Place the legal hold NAME on calls (by numbers and an optional start-time range, or "
        "by call IDs), or release it with --release. Held calls are deleted by no path."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--reason", required=True, help="Why (recorded with the hold or its release)."
        )
        parser.add_argument(
            "--number", action="append", default=[], metavar="N", help="Repeatable."
        )
        parser.add_argument(
            "--from",
            dest="starts_from",
            type=_moment,
            metavar="ISO",
            help="Calls started from this time (UTC unless an offset is given).",
        )
        parser.add_argument(
            "--until",
            dest="starts_until",
            type=_moment,
            metavar="ISO",
            help="Calls started before this time.",
        )
        parser.add_argument(
            "--call", action="append", default=[], metavar="ID", help="A call ID (repeatable)."
        )
        parser.add_argument("--release", action="store_true", help="Release the hold.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        if options["release"]:
            hold = LegalHold.objects.filter(name=name).first()
            if hold is None:
                raise CommandError(f"There is no legal hold named {name}.")
            try:
                release_hold(hold, by=command_user(), reason=options["reason"])
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"Released the legal hold {name}.")
            return
        if LegalHold.objects.filter(name=name).exists():
            raise CommandError(f"A legal hold named {name} exists already; choose another name.")
        try:
            call_ids = [uuid.UUID(c) for c in options["call"]]
        except ValueError:
            raise CommandError("--call takes a call ID (a GUID).") from None
        try:
            create_hold(
                name,
                reason=options["reason"],
                by=command_user(),
                numbers=options["number"],
                starts_from=options["starts_from"],
                starts_until=options["starts_until"],
                call_ids=call_ids,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Placed the legal hold {name}.")
