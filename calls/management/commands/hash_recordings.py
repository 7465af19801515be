import hashlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q

from calls.models import Call

CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = (
        "Compute the SHA-256 of every stored recording that has none yet (recordings stored "
        "before digests were kept; new ones get theirs as they are stored). Safe to re-run; "
        "a recording replaced meanwhile is left to its own digest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        hashed = unreadable = 0
        after = None
        while True:
            todo = Call.objects.filter(recording_sha256="").exclude(recording="")
            if after is not None:
                todo = todo.filter(pk__gt=after)
            batch = list(todo.order_by("pk").only("pk", "recording")[: options["batch_size"]])
            if not batch:
                break
            for call in batch:
                digest = hashlib.sha256()
                try:
                    with call.recording.open("rb") as file:
                        while chunk := file.read(CHUNK):
                            digest.update(chunk)
                except OSError as exc:
                    unreadable += 1
                    self.stderr.write(f"{call.pk}: {call.recording.name}: {exc}")
                    continue
                # Only if the same file is still the recording (a new upload has its own).
                hashed += Call.objects.filter(
                    Q(pk=call.pk, recording=call.recording.name, recording_sha256="")
                ).update(recording_sha256=digest.hexdigest())
            after = batch[-1].pk
        self.stdout.write(f"Hashed {hashed} recording{'s' if hashed != 1 else ''}.")
        if unreadable:
            self.stdout.write(
                f"{unreadable} file{'s' if unreadable != 1 else ''} could not be read "
                "(listed on stderr); their calls keep no digest."
            )
