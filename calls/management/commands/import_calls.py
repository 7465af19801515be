"""manage.py import_calls FILE: load call detail records from a CSV export."""

import io
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, DataError, IntegrityError, connection

from calls import cdr_csv, services
from calls.services import BatchResult

DEFAULT_BATCH_SIZE = 5000


class Command(BaseCommand):
    help = (
        "Import calls from a CSV file (our column names or the Verba CDR export's). "
        "Creates new calls and updates known ones by id, so re-running on the same file "
        "adds nothing. Rejected rows are listed with their line number and reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file; the first line names the columns.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per database transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--delimiter", default=",", help="Column separator (default ,).")
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="File encoding (default UTF-8, BOM or not)."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar, even on a terminal."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["file"]
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if len(options["delimiter"]) != 1:
            raise CommandError("--delimiter must be one character.")
        try:
            raw = open(path, "rb")  # noqa: SIM115 (closed below, after the wrapper)
        except OSError as exc:
            raise CommandError(f"Cannot open {path}: {exc.strerror}.") from None
        with raw:
            text = io.TextIOWrapper(raw, encoding=options["encoding"], newline="")
            show_progress = not options["no_progress"] and sys.stderr.isatty()
            importer = _Importer(self, raw, batch_size, show_progress)
            try:
                importer.run(text, options["delimiter"])
            except cdr_csv.HeaderError as exc:
                raise CommandError(f"{path}: {exc}") from None
            except DatabaseError as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise CommandError(
                    f"The database failed near line {importer.last_line} ({reason}). "
                    "The batches before it are stored; re-running the import is safe."
                ) from None
            except UnicodeDecodeError:
                raise CommandError(
                    f"{path} is not valid {options['encoding']} text after line "
                    f"{importer.last_line}; give the right --encoding."
                ) from None
        importer.summarize(path)


class _Importer:
    def __init__(self, command: BaseCommand, raw: Any, batch_size: int, progress: bool) -> None:
        self.command = command
        self.raw = raw
        self.batch_size = batch_size
        self.progress = progress
        self.total = BatchResult()
        self.rejected = 0
        self.read = 0
        self.last_line = 1
        self.started = time.monotonic()
        self._write: Callable[[str], None] = command.stdout.write

    def run(self, text: io.TextIOWrapper, delimiter: str) -> None:
        header, rows = cdr_csv.read_rows(text, delimiter)
        if header.ignored:
            self._write("Ignoring columns: " + ", ".join(header.ignored))
        bar = self._bar()
        batch: list[tuple[int, dict[str, Any]]] = []
        self.writer = _BatchWriter(header.fields)
        try:
            for line, row in rows:
                self.read += 1
                self.last_line = line
                if isinstance(row, cdr_csv.Rejected):
                    self._reject(row.line, row.reason)
                else:
                    batch.append((line, row))
                if len(batch) >= self.batch_size:
                    self._flush(batch, bar)
                    batch = []
            if batch:
                self._flush(batch, bar)
            self.writer.finish()
            self._collect(bar)
        finally:
            self.writer.stop()
            if bar is not None:
                bar.close()

    def _bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        size = os.fstat(self.raw.fileno()).st_size
        bar = tqdm(total=size, unit="B", unit_scale=True, desc="Importing", file=sys.stderr)
        plain = self.command.stdout.write

        def above_the_bar(message: str) -> None:
            with bar.external_write_mode():
                plain(message)

        self._write = above_the_bar
        return bar

    def _flush(self, batch: list[tuple[int, dict[str, Any]]], bar: Any) -> None:
        self.writer.submit(batch)
        self._collect(bar)

    def _collect(self, bar: Any) -> None:
        for result, rejects in self.writer.results():
            self.total.add(result)
            for line, reason in rejects:
                self._reject(line, reason)
        if bar is not None:
            bar.n = self.raw.tell()
            elapsed = max(time.monotonic() - self.started, 1e-9)
            bar.set_postfix(rows=f"{self.read:,}", rate=f"{self.read / elapsed:,.0f} rows/s")

    def _reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        self._write(f"line {line}: {reason}")

    def summarize(self, path: str) -> None:
        elapsed = time.monotonic() - self.started
        t = self.total
        self.command.stdout.write(
            f"{path}: {self.read:,} rows in {elapsed:.1f} s "
            f"({self.read / max(elapsed, 1e-9):,.0f} rows/s): "
            f"created {t.created:,}, updated {t.updated:,}, unchanged {t.unchanged:,}, "
            f"rejected {self.rejected:,}."
        )


class _BatchWriter:
    """Writes batches on a thread of its own (with its own database connection).

    Reading and checking the next batch in Python then overlaps the database's work on this
    one, which nearly halves an import on a machine with two cores. At most one batch
    waits in the queue, so memory stays bounded whatever the file's size.
    """

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self._todo: queue.Queue[list[tuple[int, dict[str, Any]]] | None] = queue.Queue(1)
        self._done: queue.Queue[tuple[BatchResult, list[tuple[int, str]]]] = queue.Queue()
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        while True:
            self._raise_failure()
            try:
                self._todo.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def results(self) -> list[tuple[BatchResult, list[tuple[int, str]]]]:
        done = []
        while not self._done.empty():
            done.append(self._done.get_nowait())
        return done

    def finish(self) -> None:
        """Wait until every submitted batch is written."""
        self.submit_end()
        self._thread.join()
        self._raise_failure()

    def submit_end(self) -> None:
        while self._thread.is_alive():
            try:
                self._todo.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        """Abandon what is queued (after an error in the reading thread)."""
        if self._thread.is_alive():
            self._stopping.set()
            self.submit_end()
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while (batch := self._todo.get()) is not None:
                if not self._stopping.is_set():
                    self._done.put(_write(batch, self.fields))
        except BaseException as exc:
            self._error = exc
            # Unblock a reader waiting to submit.
            while not self._todo.empty():
                self._todo.get_nowait()
        finally:
            connection.close()


def _write(
    batch: list[tuple[int, dict[str, Any]]], fields: tuple[str, ...]
) -> tuple[BatchResult, list[tuple[int, str]]]:
    rows = [row for _, row in batch]
    try:
        return services.bulk_upsert_calls(rows, fields), []
    except (IntegrityError, DataError):
        pass
    # Something only the database noticed: find the offending rows one by one, so the
    # rest of the batch still lands.
    total, rejects = BatchResult(), []
    for line, row in batch:
        try:
            total.add(services.bulk_upsert_calls([row], fields))
        except (IntegrityError, DataError) as exc:
            rejects.append((line, str(exc).strip().splitlines()[0]))
    return total, rejects
