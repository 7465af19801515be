"""A large, reproducible data set for benchmarks: calls (and audit rows) loaded with COPY.

    from dataset import CallShape, ensure_calls, load_audit_rows

    shape = CallShape(rows=10_000_000)
    ensure_calls("bench13_calls", shape)   # loads once; reused while the shape is unchanged

Reusable by every benchmark that needs millions of rows. The same `CallShape` always gives
the same calls (numbers, times, ids), so results from different runs compare. Loading
10 M calls takes minutes: the table's secondary indexes are dropped during the COPY and
built afterwards (much faster than maintaining them row by row), then the table is
VACUUM ANALYZEd, as a table of that age would be in production. A marker table
(`bench_dataset`) records the shape loaded, so `ensure_calls` reuses a database that
already holds it and reloads one that does not.

The shape of call n (n = 0 is the newest; start times evenly spread back over `days`):
- caller: an external number `+44207…` (50,021 distinct), called: one of 2,000 extensions
  `7000`–`8999`, so an ordinary extension takes part in about 1 call in 2,000;
- the hot extensions (`HOT`, `WARM`) on one side of 1 call in 25 (4 %) and 1 in 100 (1 %),
  alternating between caller and called side; every `HOT` call has ended (its `ongoing`
  lookup finds nothing and falls through to `last`, the costlier path);
- `OLD_NUMBER` calls only in the oldest 5 % of the period (20 calls per million): the case
  an OR with ORDER BY over both number columns handles worst;
- 0.1 % of calls have no end; an `ONGOING_EXTENSION` has exactly one call in progress now;
- `native_id` `native-<n>`, `platform_call_id` `<n>@pbx`; 2 % kept; no recordings.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from benchdb import connect

HOT = "8856"
WARM = "8857"
OLD_NUMBER = "+442079460000"
ONGOING_EXTENSION = "8858"

CALL_COLUMNS = (
    "id",
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "started_at",
    "ended_at",
    "direction",
    "native_id",
    "platform_call_id",
    "keep",
    "recording",
    "recording_content_type",
    "created_at",
    "updated_at",
)
_DIRECTIONS = ("inbound", "outbound", "internal")


@dataclass(frozen=True)
class CallShape:
    """What `calls` generates; equal shapes give equal calls."""

    rows: int = 10_000_000
    days: float = 730.0
    seed: int = 13
    # The load's "now", rounded down to the hour: the newest call starts 2 minutes before.
    anchor: str = ""

    def with_anchor(self) -> CallShape:
        if self.anchor:
            return self
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return CallShape(self.rows, self.days, self.seed, now.isoformat())


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


class _Stamps:
    """Fast COPY text for UTC epoch seconds (datetime arithmetic and strftime for 40 M
    values would take minutes on their own)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, epoch: float) -> str:
        whole = int(epoch)
        micro = int((epoch - whole) * 1_000_000)
        day, second = divmod(whole, 86400)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")
        hour, rest = divmod(second, 3600)
        return f"{text} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}.{micro:06d}+00"


def calls(shape: CallShape) -> Iterator[str]:
    """The calls of `shape` as lines of PostgreSQL's COPY text format."""
    anchor = datetime.fromisoformat(shape.with_anchor().anchor).timestamp()
    spacing = shape.days * 86400.0 / shape.rows
    rng = random.Random(shape.seed)
    bits, below = rng.getrandbits, rng.randrange
    stamp = _Stamps()
    old_from = int(shape.rows * 0.95)
    ongoing_at = 3  # the 4th-newest call is ONGOING_EXTENSION's call in progress
    # Every end is in the past at the anchor (which is before the load's moment), so no
    # finished call counts as ongoing with an end still to come.
    latest_end = anchor - 60
    special = (HOT, WARM, ONGOING_EXTENSION)
    for n in range(shape.rows):
        started = anchor - 120 - n * spacing
        caller = f"+4420{1_000_000 + (n * 7) % 50_021}"
        called = str(7000 + (n * 7919) % 2000)
        if called in special:
            called = "7999"
        if n % 25 == 0:
            if n % 50 == 0:
                caller = HOT
            else:
                called = HOT
        elif n % 100 == 1:
            if n % 200 == 1:
                caller = WARM
            else:
                called = WARM
        elif n >= old_from and n % 2_500 == 7:
            caller = OLD_NUMBER
        if n == ongoing_at:
            called = ONGOING_EXTENSION
            ended = "\\N"
        elif n % 1000 == 999 and n % 25:
            ended = "\\N"
        else:
            end = started + 5 + below(1800)
            if end > latest_end:
                end = started + (latest_end - started) / 2
            ended = stamp(end)
        start_text = stamp(started)
        # 32 hex digits: PostgreSQL reads a uuid without dashes too.
        yield (
            f"{bits(128):032x}\t{caller}\tCaller {n % 97}\t{called}\tDesk {n % 13}\t"
            f"{start_text}\t{ended}\t{_DIRECTIONS[n % 3]}\tnative-{n}\t{n}@pbx\t"
            f"{'t' if n % 50 == 0 else 'f'}\t\t\t{start_text}\t{start_text}\n"
        )


class _LineReader(io.RawIOBase):
    """A file-like view of an iterator of text lines, for COPY … FROM STDIN."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray) -> int:  # type: ignore[override]
        while len(self._buffer) < len(target):
            chunk = "".join(line for _, line in zip(range(2000), self._lines, strict=False))
            if not chunk:
                break
            self._buffer += chunk.encode()
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _secondary_indexes(cur, table: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    cur.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        """,
        [table],
    )
    return cur.fetchall()


def _extra_columns(cur, table: str, columns: tuple[str, ...]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Columns of `table` the generator does not write (added by a later migration), with
    the COPY text of an empty value for each: false, '' or NULL."""
    cur.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        # An identity column (Django's AutoField) has no default either: PostgreSQL fills it.
        "WHERE table_name = %s AND column_default IS NULL AND is_identity = 'NO'",
        [table],
    )
    extra = []
    for name, data_type, nullable in cur.fetchall():
        if name in columns:
            continue
        if data_type == "boolean":
            extra.append((name, "f"))
        elif nullable == "YES":
            extra.append((name, "\\N"))
        else:
            extra.append((name, ""))
    return extra


def copy_rows(database: str, table: str, columns: tuple[str, ...], lines: Iterator[str]) -> None:
    """COPY `lines` into `table`, with its secondary indexes built afterwards. Columns the
    lines do not hold (a newer schema than the generator) get an empty value."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            extra = _extra_columns(cur, table, columns)
            if extra:
                tail = "".join(f"\t{value}" for _, value in extra) + "\n"
                columns = (*columns, *(name for name, _ in extra))
                lines = (line[:-1] + tail for line in lines)
            indexes = _secondary_indexes(cur, table)
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            try:
                cur.copy_expert(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN",
                    io.BufferedReader(_LineReader(lines), buffer_size=1 << 20),
                )
            finally:
                # Even after a failed COPY: a table left without its indexes would make
                # every later run measure sequential scans.
                cur.execute("SET maintenance_work_mem = '256MB'")
                for _, definition in indexes:
                    cur.execute(definition)
            cur.execute(f"VACUUM ANALYZE {table}")
    finally:
        connection.close()


def loaded_shape(database: str) -> dict | None:
    """The shape recorded by the last completed load into `database`, if any."""
    connection = connect(database)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_dataset')")
            if cur.fetchone()[0] is None:
                return None
            cur.execute("SELECT shape FROM bench_dataset WHERE name = 'calls'")
            row = cur.fetchone()
            return json.loads(row[0]) if row else None
    finally:
        connection.close()


def _record_shape(database: str, shape: CallShape) -> None:
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS bench_dataset (name text PRIMARY KEY, shape text)"
            )
            cur.execute(
                "INSERT INTO bench_dataset VALUES ('calls', %s) "
                "ON CONFLICT (name) DO UPDATE SET shape = EXCLUDED.shape",
                [json.dumps(asdict(shape))],
            )
    finally:
        connection.close()


def same_shape(recorded: dict | None, shape: CallShape) -> bool:
    if not recorded:
        return False
    wanted = asdict(shape)
    return all(recorded.get(k) == wanted[k] for k in ("rows", "days", "seed"))


def ensure_calls(database: str, shape: CallShape, *, log=print) -> CallShape:  # type: ignore[no-untyped-def]
    """Make `database` (already migrated) hold exactly the calls of `shape`; reuse a load
    of the same shape. Returns the shape with the anchor its calls were generated from."""
    recorded = loaded_shape(database)
    if same_shape(recorded, shape):
        log(f"reusing {shape.rows:,} calls loaded at {recorded['anchor']}")
        return CallShape(**recorded)
    shape = shape.with_anchor()
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM bench_dataset" if recorded is not None else "SELECT 1")
            cur.execute("TRUNCATE calls_call CASCADE")
    finally:
        connection.close()
    started = time.perf_counter()
    log(f"loading {shape.rows:,} calls with COPY (minutes for 10 M) …")
    copy_rows(database, "calls_call", CALL_COLUMNS, calls(shape))
    _record_shape(database, shape)
    log(f"loaded {shape.rows:,} calls in {time.perf_counter() - started:.0f} s")
    return shape


AUDIT_COLUMNS = (
    "at",
    "action",
    "api_key_id",
    "user_id",
    "client_address",
    "result_code",
    "call_id",
    "duration_ms",
)


def audit_rows(rows: int, key_ids: list[int], *, days: int = 60, seed: int = 13) -> Iterator[str]:
    """Audit rows spread over the last `days` days: the first key takes 70 %, the others share
    the rest; nine in ten answered code 0, the others 2 or 4."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    spacing = days * 86400.0 / rows
    for n in range(rows):
        key = key_ids[0] if n % 10 < 7 else key_ids[1 + n % (len(key_ids) - 1)]
        code = 0 if n % 10 else (2, 4)[n % 20 == 0]
        yield (
            f"{_stamp(now - timedelta(seconds=n * spacing))}\tGetCallURL\t{key}\t\\N\t"
            f"127.0.0.1\t{code}\t\\N\t{rng.randrange(1, 20)}\n"
        )


def load_audit_rows(database: str, rows: int, key_ids: list[int], *, log=print) -> None:  # type: ignore[no-untyped-def]
    """Replace the audit trail with `rows` generated rows for `key_ids` (COPY), then rebuild
    the hourly usage roll-up from it as the migration does."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE audit_apirequest")
    finally:
        connection.close()
    started = time.perf_counter()
    copy_rows(database, "audit_apirequest", AUDIT_COLUMNS, audit_rows(rows, key_ids))
    log(f"loaded {rows:,} audit rows in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    rebuild_usage(database)
    log(f"rebuilt the hourly usage roll-up in {time.perf_counter() - started:.0f} s")


def rebuild_usage(database: str) -> None:
    """Count the audit rows into the hourly roll-up (audit.HourlyUsage), as the migration
    and `manage.py rebuild_usage` do, in one INSERT … SELECT; a schema without the roll-up
    (an older checkout) is left alone."""
    connection = connect(database)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('audit_hourlyusage')")
            if cur.fetchone()[0] is None:
                return
            cur.execute("TRUNCATE audit_hourlyusage")
            cur.execute(
                "INSERT INTO audit_hourlyusage (api_key_id, hour, result_code, requests) "
                "SELECT api_key_id, date_trunc('hour', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
                "result_code, count(*) FROM audit_apirequest WHERE api_key_id IS NOT NULL "
                "GROUP BY 1, 2, 3"
            )
            cur.execute("VACUUM ANALYZE audit_hourlyusage")
    finally:
        connection.close()
