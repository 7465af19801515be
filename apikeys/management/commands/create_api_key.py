from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apikeys.services import create_api_key


def _expiry(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(value) from None
    # The key is valid through the whole of the given day, in the server's time zone.
    return timezone.make_aware(datetime.combine(day, time.max))


class Command(BaseCommand):
    help = (
        "Create an API key and print it (the only line on stdout). The key is stored only "
        "as a digest: copy it now, it cannot be shown again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name for the key, 3 to 128 characters.")
        parser.add_argument(
            "--requires-auth",
            action="store_true",
            help="Every request except RequestToken must carry a user token.",
        )
        parser.add_argument(
            "--network",
            action="append",
            default=[],
            metavar="CIDR",
            help="Allow only this address or range (repeatable). Default: anywhere.",
        )
        parser.add_argument(
            "--change",
            action="store_true",
            help="Allow changing calls (KeepCall, DeleteCall, AttachMetaData, AddMarker).",
        )
        parser.add_argument(
            "--ingest", action="store_true", help="Allow the call ingestion API and PutMedia."
        )
        parser.add_argument(
            "--no-query",
            action="store_true",
            help="Do not allow the Business API (/verba/api).",
        )
        parser.add_argument(
            "--key", metavar="GUID", help="Import this existing key instead of a new one."
        )
        parser.add_argument("--expires", metavar="YYYY-MM-DD", help="Last day the key is valid.")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            metavar="GROUP",
            help="See only the calls of this directory group's members and supervisors "
            "(repeatable). Default: every call.",
        )

        parser.add_argument(
            "--audit",
            action="store_true",
            help="Read the audit feeds (/api/v1/access-events, /api/v1/deletions) and nothing "
            "else: not the Business API, not changes, not ingestion.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        audit = bool(options["audit"])
        if audit:
            others = [
                f"--{name.replace('_', '-')}"
                for name in ("change", "ingest", "requires_auth", "group")
                if options[name]
            ]
            if others:
                raise CommandError(
                    f"--audit grants the audit feeds only; it cannot go with {', '.join(others)}."
                )
        expires_at = None
        if options["expires"]:
            try:
                expires_at = _expiry(str(options["expires"]))
            except ValueError:
                raise CommandError("--expires must be a date as YYYY-MM-DD.") from None
        try:
            _, plaintext = create_api_key(
                str(options["name"]),
                key=options["key"],
                requires_auth=bool(options["requires_auth"]),
                networks=list(options["network"]),
                can_query=not (options["no_query"] or audit),
                can_change=bool(options["change"]),
                can_ingest=bool(options["ingest"]),
                audit=audit,
                expires_at=expires_at,
                groups=list(options["group"]),
            )
        except ValidationError as exc:
            raise CommandError(_one_line(exc)) from None
        self.stdout.write(plaintext)


def _one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{'name' if field == '__all__' else field}: {' '.join(msgs)}"
            for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)
