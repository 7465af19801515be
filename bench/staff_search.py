"""Measure the staff call list's queries (calls/search.py) on a million calls in PostgreSQL.

    .venv/bin/python bench/staff_search.py [--rows 1000000] [--database callportal_staff_bench]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, fills it with
generated calls in one INSERT … SELECT (2,000 extensions; one "hot" number takes part in 10%
of all calls; 0.1% of calls without an end), ANALYZEs, then times each list query the staff
pages run: the median of 15 runs, in milliseconds, with the plan's top node. For scale it
times the shapes the list avoids in the same run: an OR across both number columns with
ORDER BY, and OFFSET pagination with a COUNT(*).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
HOT = "8800"
RUNS = 15


def recreate(database: str, rows: int) -> None:
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cur.execute(f'CREATE DATABASE "{database}"')
    admin.close()
    env = {**os.environ, "DATABASE_URL": _url(database)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=database)
    connection.autocommit = True
    started = time.perf_counter()
    with connection.cursor() as cur:
        # Calls spread over 90 days; every tenth involves the hot number on one side.
        cur.execute(
            """
            INSERT INTO calls_call (id, caller_number, caller_name, called_number, called_name,
                started_at, ended_at, direction, native_id, platform_call_id, keep,
                recording, recording_content_type, created_at, updated_at)
            SELECT gen_random_uuid(),
                   CASE WHEN n %% 20 = 0 THEN %(hot)s ELSE (7000 + n %% 2000)::text END,
                   'Caller ' || n %% 97,
                   CASE WHEN n %% 20 = 10 THEN %(hot)s ELSE '+4420' || (1000000 + n %% 50021) END,
                   '',
                   s.started,
                   CASE WHEN n %% 1000 = 0 THEN NULL
                        ELSE s.started + (n %% 1800) * interval '1 second' END,
                   'inbound', 'native-' || n, 'p-' || n || '@pbx', n %% 50 = 0, '', '',
                   now(), now()
            FROM generate_series(1, %(rows)s) AS n,
                 LATERAL (SELECT now() - (n::float / %(rows)s) * interval '90 days'
                          - (n %% 7) * interval '1 second' AS started) AS s
            """,
            {"hot": HOT, "rows": rows},
        )
        cur.execute("ANALYZE calls_call")
    connection.close()
    print(f"filled {rows:,} calls in {time.perf_counter() - started:.1f} s")


def _url(database: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{database}"


def measure(database: str) -> None:
    os.environ["DATABASE_URL"] = _url(database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callportal.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from calls.models import Call
    from calls.search import CallSearch, Cursor, State, search_calls

    now = timezone.now()
    deep = search_calls(CallSearch(number=HOT), per_page=1, now=now)
    # A cursor about 40 days back: "page 2,000" of the hot number's calls.
    middle = Call.objects.filter(caller_number=HOT, started_at__lt=now - timedelta(days=40))
    cursor_call = middle.order_by("-started_at").first()
    if not deep.calls or cursor_call is None:
        sys.exit("The database holds no calls of the hot number; run without --reuse.")

    cursor = Cursor(cursor_call.started_at, cursor_call.pk)
    cold = "7123"

    cases = {
        "newest calls, first page": lambda: search_calls(CallSearch(), now=now),
        "hot number (10% of calls), first page": lambda: search_calls(
            CallSearch(number=HOT), now=now
        ),
        "hot number, 40 days deep (keyset)": lambda: search_calls(
            CallSearch(number=HOT), before=cursor, now=now
        ),
        "cold number, first page": lambda: search_calls(CallSearch(number=cold), now=now),
        "one day, first page": lambda: search_calls(
            CallSearch(
                started_from=now - timedelta(days=30), started_before=now - timedelta(days=29)
            ),
            now=now,
        ),
        "in progress now": lambda: search_calls(CallSearch(state=State.IN_PROGRESS), now=now),
        "hot number, finished": lambda: search_calls(
            CallSearch(number=HOT, state=State.FINISHED), now=now
        ),
    }

    def avoided_or(number: str) -> None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT * FROM calls_call WHERE caller_number = %s OR called_number = %s "
                "ORDER BY started_at DESC, id DESC LIMIT 51",
                [number, number],
            )
            cur.fetchall()

    def avoided_offset() -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM calls_call")
            cur.fetchall()
            cur.execute(
                "SELECT * FROM calls_call ORDER BY started_at DESC, id DESC LIMIT 50 OFFSET 100000"
            )
            cur.fetchall()

    cases["(avoided) OR across both columns, hot number"] = lambda: avoided_or(HOT)
    cases["(avoided) OR across both columns, cold number"] = lambda: avoided_or(cold)
    cases["(avoided) OR, a number with no calls"] = lambda: avoided_or("0000")
    cases["number with no calls"] = lambda: search_calls(CallSearch(number="0000"), now=now)
    cases["(avoided) COUNT(*) + OFFSET 100000"] = avoided_offset

    print(f"{'query':48} {'median ms':>10} {'max ms':>8}")
    for name, run in cases.items():
        run()  # warm the cache
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            run()
            times.append((time.perf_counter() - started) * 1000)
        print(f"{name:48} {statistics.median(times):10.2f} {max(times):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="callportal_staff_bench")
    parser.add_argument("--reuse", action="store_true", help="Keep the existing database.")
    args = parser.parse_args()
    if not args.reuse:
        recreate(args.database, args.rows)
    measure(args.database)


if __name__ == "__main__":
    main()
