"""manage.py import_directory FILE [--prune]: sync the directory from a JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from directory.importing import DirectoryFileError, import_directory


class Command(BaseCommand):
    help = (
        "Add and update users, their extensions and groups from a directory file (JSON, "
        "docs/access.md). All or nothing. --prune also deactivates users not in the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Deactivate users the file does not name (superusers excepted).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        try:
            result = import_directory(content, prune=options["prune"])
        except DirectoryFileError as exc:
            raise CommandError(
                "Nothing was imported:\n" + "\n".join(f"  {e}" for e in exc.errors)
            ) from None
        self.stdout.write(str(result))
