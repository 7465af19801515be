"""The PostgreSQL plumbing the bench scripts share: one throw-away database per benchmark.

Each script names its own database (`--database`), so benchmarks can run side by side.
`recreate` drops that database first: never point a benchmark at data you want to keep.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2.extensions import connection as Connection

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
# Settings refuse to start without a key unless DEBUG is on; the benchmarks sign nothing that
# outlives the run, so a fixed one will do (an exported SECRET_KEY wins).
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnop"  # noqa: S105


def pg_url(name: str, server: str = SERVER) -> str:
    """The DATABASE_URL of database `name` on `server` (a postgres:// URL without a path)."""
    return f"{server}/{name}"


def connect(name: str, server: str = SERVER) -> Connection:
    """A plain psycopg2 connection to database `name`, outside Django."""
    return psycopg2.connect(pg_url(name, server))


def django_env(name: str, server: str = SERVER) -> dict[str, str]:
    """The environment for a `manage.py` child process working on database `name`."""
    return {
        **os.environ,
        "DATABASE_URL": pg_url(name, server),
        "SECRET_KEY": os.environ.get("SECRET_KEY", SECRET_KEY),
    }


def recreate(name: str, server: str = SERVER) -> None:
    """Drop database `name` if it exists, create it empty and run `manage.py migrate` on it."""
    admin = connect("postgres", server)
    admin.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=django_env(name, server),
        check=True,
    )


def fill_calls(
    name: str, rows: int, *, hot: str, hot_every: int = 10, days: float = 730.0
) -> float:
    """Insert `rows` generated calls in one INSERT … SELECT, ANALYZE, return the seconds taken.

    The shape, for call n = 1 … rows (n = 1 is the newest):
    - start times evenly spread over the last `days` days, created_at = started_at;
    - the caller an external number (+4420…, 50,021 distinct), the called number one of
      2,000 extensions (7000–8999), with "Caller …" and "Desk …" names;
    - the `hot` number on one side of one call in `hot_every`: the caller of every
      (2 × hot_every)-th call and the called number of the one half a cycle later;
    - 0.1% of the calls without an end (in progress), the others lasting up to 30 minutes;
    - directions inbound/outbound/internal in turn; 2% marked keep; no recordings.
    """
    connection = connect(name)
    connection.autocommit = True
    started = time.perf_counter()
    try:
        with connection.cursor() as cur:
            cur.execute(
                """
                INSERT INTO calls_call (id, caller_number, caller_name, called_number,
                    called_name, started_at, ended_at, direction, native_id, platform_call_id,
                    keep, recording, recording_content_type, created_at, updated_at,
                    delete_when_ended, delete_requested_by, recording_sha256)
                SELECT gen_random_uuid(),
                       CASE WHEN n %% %(cycle)s = 0 THEN %(hot)s
                            ELSE '+4420' || (1000000 + n %% 50021) END,
                       'Caller ' || n %% 97,
                       CASE WHEN n %% %(cycle)s = %(half)s THEN %(hot)s
                            ELSE (7000 + n %% 2000)::text END,
                       'Desk ' || n %% 13,
                       s.started,
                       CASE WHEN n %% 1000 = 0 THEN NULL
                            ELSE s.started + (n %% 1800) * interval '1 second' END,
                       (ARRAY['inbound', 'outbound', 'internal'])[1 + n %% 3],
                       'native-' || n,
                       n || '@pbx',
                       n %% 50 = 0,
                       '', '', s.started, s.started, false, '', ''
                FROM generate_series(1, %(rows)s) AS n,
                     LATERAL (SELECT now() - (n * (%(days)s * 86400.0 / %(rows)s))
                                             * interval '1 second' AS started) AS s
                """,
                {
                    "rows": rows,
                    "hot": hot,
                    "cycle": 2 * hot_every,
                    "half": hot_every,
                    "days": float(days),
                },
            )
            cur.execute("ANALYZE calls_call")
    finally:
        connection.close()
    return time.perf_counter() - started


@contextmanager
def indexes_built_after(name: str, table: str = "calls_call") -> Iterator[None]:
    """Drop `table`'s secondary indexes (not its primary key) for a bulk load, and build
    them again afterwards: building an index once is many times faster than updating it
    row by row, and the GIN trigram indexes most of all."""
    connection = connect(name)
    connection.autocommit = True
    try:
        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.tablename = %s AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                """,
                [table],
            )
            indexes = cur.fetchall()
            for index_name, _ in indexes:
                cur.execute(f'DROP INDEX "{index_name}"')
        yield
        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                cur.execute(definition)
    finally:
        connection.close()


def setup_django(name: str) -> None:
    """Point this process's Django at database `name` and run django.setup()."""
    os.environ["DATABASE_URL"] = pg_url(name)
    os.environ.setdefault("SECRET_KEY", SECRET_KEY)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callportal.settings")
    # The project before bench/ (the script's own folder, first on the path): a bench
    # script named like an app (bench/retention.py) must not hide it.
    if str(ROOT) in sys.path:
        sys.path.remove(str(ROOT))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
