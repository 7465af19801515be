"""Measure the staff call list's queries (search/staff_list.py) on a million calls in PostgreSQL.

    .venv/bin/python bench/staff_search.py [--rows 1000000] [--database callportal_staff_bench]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, fills it with
generated calls in one INSERT … SELECT (2,000 extensions; one "hot" number takes part in 10%
of all calls; 0.1% of calls without an end), ANALYZEs, then times each list query the staff
pages run: the median of 15 runs, in milliseconds, with the plan's top node. For scale it
times the shapes the list avoids in the same run: an OR across both number columns with
ORDER BY, and OFFSET pagination with a COUNT(*).
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta

from benchdb import fill_calls, recreate, setup_django

HOT = "8800"
RUNS = 15


def load(database: str, rows: int) -> None:
    recreate(database)
    # Calls spread over 90 days; every tenth involves the hot number on one side.
    seconds = fill_calls(database, rows, hot=HOT, days=90)
    print(f"filled {rows:,} calls in {seconds:.1f} s")


def measure(database: str) -> None:
    setup_django(database)
    from django.db import connection
    from django.utils import timezone

    from calls.models import Call
    from calls.states import State
    from search.staff_list import CallSearch, Cursor, search_calls

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
        load(args.database, args.rows)
    measure(args.database)


if __name__ == "__main__":
    main()
