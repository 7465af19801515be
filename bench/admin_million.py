"""Time the admin's call list on a million calls in PostgreSQL.

    .venv/bin/python bench/admin_million.py [--rows 1000000] [--database callportal_admin_bench]
                                            [--reuse]

Recreates the PostgreSQL database given (it is dropped first!) unless --reuse finds it
already filled, migrates it, generates the calls in one INSERT … SELECT (calls over two
years; 2,000 extensions; one "hot" number on one side of 10% of all calls; 0.1% without an
end), ANALYZEs, then renders admin pages through Django's test client as a logged-in
superuser: the whole request (middleware, queries, template), median and worst of RUNS
runs, in milliseconds, with the number of queries. For scale it also times a plain
COUNT(*) of the table, the query Django's default admin paginator would run on every page.
"""

import argparse
import statistics
import time

import psycopg2
from benchdb import connect, fill_calls, recreate, setup_django

HOT = "8856"
RUNS = 7


def filled(database: str) -> int:
    try:
        connection = connect(database)
    except psycopg2.OperationalError:
        return 0
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'calls_call'")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        connection.close()


def load(database: str, rows: int) -> None:
    recreate(database)
    seconds = fill_calls(database, rows, hot=HOT)
    print(f"loaded {rows:,} calls in {seconds:.1f} s")


def measure(database: str, rows: int) -> None:
    setup_django(database)
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from calls.models import Call

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    # The middle call (the 500,000th of a million): searches for it are typical.
    middle = rows // 2
    sample = Call.objects.order_by("started_at")[middle : middle + 1].get()
    typical = sample.caller_number if sample.caller_number != HOT else sample.called_number
    year = sample.started_at.year
    pages = [
        ("call list, first page", ""),
        (f"search by number {typical} (typical)", f"q={typical.replace('+', '%2B')}"),
        (f"search by number {HOT} (10% of all calls)", f"q={HOT}"),
        ("search by call id", f"q={sample.pk}"),
        ("search by native id", f"q={sample.native_id}"),
        ("state = in progress", "state=in_progress"),
        (
            "start date range (one week)",
            "started_at__range_from=2026-01-01&started_at__range_to=2026-01-07",
        ),
        (f"date hierarchy, year {year}", f"started_at__year={year}"),
        ("page 200 of the list (the last offered)", "p=200"),
        ("call page (change form)", None),
    ]
    print(f"{'page':52} {'median ms':>10} {'worst ms':>9} {'queries':>8}")
    for label, query in pages:
        url = (
            f"/admin/calls/call/{sample.pk}/change/"
            if query is None
            else f"/admin/calls/call/?{query}"
        )
        _check(client.get(url), url)  # warm-up, and a sanity check
        times = []
        for _ in range(RUNS):
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            _check(response, url)
        print(f"{label:52} {statistics.median(times):10.1f} {max(times):9.1f} {len(queries):8d}")
    started = time.perf_counter()
    total = Call.objects.count()
    print(
        f"for scale: SELECT COUNT(*) of all {total:,} calls took "
        f"{(time.perf_counter() - started) * 1000:.1f} ms (the list never runs it)"
    )


def _check(response, url: str) -> None:  # type: ignore[no-untyped-def]
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="callportal_admin_bench")
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled")
    args = parser.parse_args()
    if not (args.reuse and filled(args.database) >= args.rows * 0.9):
        load(args.database, args.rows)
    measure(args.database, args.rows)


if __name__ == "__main__":
    main()
