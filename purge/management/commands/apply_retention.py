import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from purge.run import Figure, preview, run_once


class Command(BaseCommand):
    help = (
        "Delete the calls that the retention rules make due now, in batches, and print per "
        "rule how many. --dry-run prints the same figures and deletes nothing. The app "
        "servers already do this every RETENTION_SWEEP_MINUTES."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count only; delete nothing.")
        parser.add_argument(
            "--batch-size", type=int, help="Calls per transaction (default RETENTION_BATCH_SIZE)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            figures = preview()
            self._print(figures, "would delete", lambda f: f.due)
            return
        _yield_cpu(settings.RETENTION_NICENESS)
        report = run_once(batch_size=options["batch_size"])
        if not report.ran:
            raise CommandError("Another server is running retention now; nothing was deleted.")
        self._print(report.figures, "deleted", lambda f: f.deleted)
        self.stdout.write(
            f"Recording files removed: {report.files_removed}; "
            f"still to remove: {report.files_left}."
        )

    def _print(self, figures: list[Figure], verb: str, count: Any) -> None:
        for figure in figures:
            days = "kept for ever" if figure.keep_days is None else f"{figure.keep_days} days"
            self.stdout.write(f"{figure.label} ({days}): {verb} {count(figure)}")
        self.stdout.write(f"Total: {verb} {sum(count(f) for f in figures)}")


def _yield_cpu(niceness: int) -> None:
    """Run at a lower CPU priority from here on. A backlog's purge keeps a CPU busy for
    minutes; at the default priority it took its share from the requests of an app server
    on the same machine (GetCallURL's p99 about 3× during the purge; 1.4–1.6× niced:
    docs/retention.md). The database's own work for the purge keeps its priority."""
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
