"""Writing the audit trail of the Business API.

One INSERT per request would add a database round trip (and, on SQLite, a write lock) to
every API answer. Rows are therefore buffered in process and written in batches by one
background thread: every `AUDIT_FLUSH_SECONDS` (default 1 s), as soon as
`AUDIT_FLUSH_ROWS` rows are waiting, and at interpreter exit. `AUDIT_FLUSH_SECONDS=0`
writes each row at once, in the caller's thread and transaction (the test settings do
this, so a test sees its rows without waiting).

Each batch also adds its counts to the hourly roll-up the admin reads (per key, hour and
result code: audit.models.HourlyUsage), in the same transaction as its rows: one upsert
statement that adds to the existing counts, so several processes flushing at once never
lose an increment.
"""

import atexit
import ipaddress
import logging
import os
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)

from audit import rollup
from audit.models import ApiRequest, HourlyUsage
from shared.model_fields import concrete_field, related_model
from shared.text import clean_text

logger = logging.getLogger(__name__)

# Rows kept while the database cannot take them; beyond this the oldest are dropped (and
# counted in the log) rather than letting an outage grow the process without bound.
MAX_PENDING_ROWS = 50_000


class AuditWriter:
    """A buffer of audit rows and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.dropped = 0

    def add(self, row: dict[str, Any]) -> None:
        self._check_fork()
        with self._lock:
            if len(self._pending) >= MAX_PENDING_ROWS:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(row)
            full = len(self._pending) >= settings.AUDIT_FLUSH_ROWS
        self._ensure_thread()
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every waiting row now, in the calling thread; returns how many.

        One flush at a time: the exit hook waits for a batch the background thread is
        still writing, instead of finding the buffer empty and letting the interpreter
        kill that thread (and its batch) on the way out.
        """
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            rows = list(self._pending)
            self._pending.clear()
        if not rows:
            return 0
        try:
            _write(rows)
        except (OperationalError, InterfaceError) as exc:
            self._keep_for_retry(rows, exc)
            return 0
        except Exception as exc:
            # One row the database or its driver refuses (a value no cleaning foresaw, a
            # bug) must not cost the other requests of this second their rows: write them
            # one by one and drop only the refused ones.
            logger.error(
                "Audit batch of %d rows refused (%s); writing them one by one",
                len(rows),
                _describe(exc),
            )
            return self._write_one_by_one(rows)
        self._report_dropped()
        return len(rows)

    def _write_one_by_one(self, rows: list[dict[str, Any]]) -> int:
        written = refused = 0
        for index, row in enumerate(rows):
            try:
                _write([row])
            except (OperationalError, InterfaceError) as exc:
                self._keep_for_retry(rows[index:], exc)
                break
            except Exception as exc:
                # Would fail again on every retry. The log names no values.
                refused += 1
                logger.error("Dropped an audit row that could not be written (%s)", _describe(exc))
            else:
                written += 1
        if refused:
            logger.error("Dropped %d of %d audit rows of a refused batch", refused, len(rows))
        return written

    def _keep_for_retry(self, rows: list[dict[str, Any]], exc: Exception) -> None:
        # The database is away: keep the rows for the next attempt. The log names no values,
        # only a count and the kind of error.
        logger.error("Could not write %d audit rows (%s); will retry", len(rows), _describe(exc))
        with self._lock:
            self._pending.extendleft(reversed(rows))
            while len(self._pending) > MAX_PENDING_ROWS:
                self._pending.popleft()
                self.dropped += 1

    def _report_dropped(self) -> None:
        if self.dropped:
            logger.warning("%d audit rows were dropped while the database was away", self.dropped)
            self.dropped = 0

    def _check_fork(self) -> None:
        # A forked worker (gunicorn preload) inherits the parent's buffer but not its thread.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._flush_lock = threading.Lock()
            self._pending = deque()
            self._wake = threading.Event()
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="audit-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            try:
                last = self._run_once(last)
            except Exception as exc:
                # This thread is the only writer of the trail: it must outlive any error,
                # or every later row would pile up unwritten. A short pause keeps a lasting
                # fault from spinning.
                logger.error("Audit flusher error (%s); carrying on", _describe(exc))
                time.sleep(0.5)

    def _run_once(self, last: float) -> float:
        """One nap and, when due, one flush; returns when the last flush began."""
        # Short naps, so that a changed interval (tests, settings) takes effect soon.
        interval = settings.AUDIT_FLUSH_SECONDS or 1.0
        woken = self._wake.wait(min(interval, 0.5))
        # A negative gap means `last` was read from a different clock (a test travelling in
        # time with time-machine, which patches monotonic): flush rather than wait forever.
        if not woken and 0 <= time.monotonic() - last < interval:
            return last
        self._wake.clear()
        last = time.monotonic()
        if self.pending():
            try:
                self.flush()
            finally:
                # One connection a second at most; holding none between batches keeps
                # this thread from pinning a connection (or a test database) for good.
                connections.close_all()
        return last


def _describe(exc: BaseException) -> str:
    """The kind of an error and where it was raised, never its message: driver and
    database messages can quote the values of the row."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__module__}.{type(exc).__qualname__}{where}"


def _write(rows: list[dict[str, Any]]) -> None:
    objects = [ApiRequest(**row) for row in rows]
    # A key or user deleted between the request and the write: keep the row, lose the link
    # (as the foreign keys' SET_NULL would have). Checked first because PostgreSQL and
    # SQLite check foreign keys only at COMMIT, which may be the caller's, not ours.
    _unlink_missing(objects)
    try:
        with transaction.atomic():
            ApiRequest.objects.bulk_create(objects)
            _add_usage(objects)
    except IntegrityError:
        # Deleted in the moment between the check and the commit.
        _unlink_missing(objects)
        with transaction.atomic():
            ApiRequest.objects.bulk_create(objects)
            _add_usage(objects)


def _add_usage(objects: list[ApiRequest]) -> None:
    """Add the rows' counts to the hourly roll-up, in the caller's transaction."""
    counts = Counter(
        (o.api_key_id, rollup.hour_of(o.at), o.result_code)
        for o in objects
        if o.api_key_id is not None
    )
    if not counts:
        return
    connection = connections[HourlyUsage.objects.db]
    # In one order in every process: two flushes touching the same rows never deadlock.
    ordered = sorted(counts.items())
    # PostgreSQL and SQLite (the project's two databases) both speak INSERT … ON CONFLICT
    # DO UPDATE; bulk_create(update_conflicts=True) would overwrite a count, not add to it.
    qn = connection.ops.quote_name
    table = qn(HourlyUsage._meta.db_table)
    key, hour_, code, requests = (
        qn(concrete_field(HourlyUsage, name).column)
        for name in ("api_key", "hour", "result_code", "requests")
    )
    values = ", ".join(["(%s, %s, %s, %s)"] * len(ordered))
    params: list[Any] = []
    for (key_id, hour, result_code), n in ordered:
        params += [key_id, connection.ops.adapt_datetimefield_value(hour), result_code, n]
    with connection.cursor() as cursor:
        cursor.execute(
            # Quoted model names and placeholders only; every value is a parameter.
            f"INSERT INTO {table} ({key}, {hour_}, {code}, {requests}) VALUES {values} "  # noqa: S608
            f"ON CONFLICT ({key}, {hour_}, {code}) "
            f"DO UPDATE SET {requests} = {table}.{requests} + EXCLUDED.{requests}",
            params,
        )


def _unlink_missing(objects: list[ApiRequest]) -> None:
    key_ids = {o.api_key_id for o in objects if o.api_key_id is not None}
    user_ids = {o.user_id for o in objects if o.user_id is not None}
    # The key model through the row's own foreign key: the trail names keys by id and never
    # imports apikeys (docs/decisions.md, "Layers").
    keys = related_model(ApiRequest, "api_key")
    live_keys = (
        set(keys._default_manager.filter(pk__in=key_ids).values_list("pk", flat=True))
        if key_ids
        else set()
    )
    live_users = (
        set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
        if user_ids
        else set()
    )
    for o in objects:
        if o.api_key_id is not None and o.api_key_id not in live_keys:
            o.api_key_id = None
        if o.user_id is not None and o.user_id not in live_users:
            o.user_id = None


writer = AuditWriter()
atexit.register(writer.flush)


def record_api_request(
    *,
    at: datetime,
    action: str,
    api_key_id: int | None,
    user_id: int | None,
    client_address: str | None,
    result_code: int,
    call_id: uuid.UUID | None,
    duration_ms: int,
    change: str = "",
) -> None:
    """Leave one audit row for one /verba/api request.

    Callers pass identifiers only, never the key, token or password they were given.
    Never raises: a lost audit row must not turn an answer into an error.
    """
    row = {
        "at": at,
        # Echoed from the request: NUL would make PostgreSQL refuse the row (and with it the
        # whole batch), and the admin shows the value as the answer did.
        "action": clean_text((action or "")[:64]),
        "api_key_id": api_key_id,
        "user_id": user_id,
        "client_address": _valid_address(client_address),
        "result_code": min(max(int(result_code), 0), 32767),
        "call_id": call_id,
        "duration_ms": max(0, int(duration_ms)),
        "change": clean_text((change or "")[:255]),
    }
    if settings.AUDIT_FLUSH_SECONDS > 0:
        writer.add(row)
        return
    try:
        _write([row])
    except Exception as exc:
        logger.error("Could not write an audit row (%s)", _describe(exc))


def _valid_address(address: str | None) -> str | None:
    # One malformed value must not make the whole batch fail on PostgreSQL's inet type.
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def flush() -> int:
    """Write the buffered rows now (tests, shutdown hooks); returns how many were written."""
    return writer.flush()


# The admin's chart shows 30 days; its roll-up outlives a shorter retention of the raw rows.
USAGE_KEPT_DAYS = 31


def prune_requests(before: datetime, batch: int = 10_000) -> int:
    """Delete audit rows older than `before`, `batch` rows per statement; returns how many.

    Small batches keep each delete short, so the flusher's inserts never wait long. The
    hourly roll-up goes at the same age, but never within USAGE_KEPT_DAYS: it holds only
    counts, and the admin's 30-day chart stays whole with a shorter retention.
    """
    usage_before = min(
        rollup.hour_of(before), rollup.hour_of(datetime.now(UTC)) - timedelta(days=USAGE_KEPT_DAYS)
    )
    HourlyUsage.objects.filter(hour__lt=usage_before).delete()
    deleted = 0
    while True:
        ids = list(ApiRequest.objects.filter(at__lt=before).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += ApiRequest.objects.filter(pk__in=ids).delete()[0]


def rebuild_usage(since: datetime | None = None) -> int:
    """Recount the hourly roll-up from the raw rows, from the hour of `since` on (when None:
    from the oldest raw row's hour; older hours, whose raw rows were pruned, keep their
    counts). Returns how many roll-up rows were written.

    Writers wait meanwhile (PostgreSQL: the roll-up is locked first), so a batch flushed
    during the rebuild is counted once: either in the recount or by its own upsert after.
    """
    with transaction.atomic():
        connection = connections[HourlyUsage.objects.db]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(HourlyUsage._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        if since is None:
            oldest = ApiRequest.objects.order_by("at").values_list("at", flat=True).first()
            if oldest is None:
                return 0
            since = oldest
        return rollup.recount(ApiRequest, HourlyUsage, since)
