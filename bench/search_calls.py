"""SearchCalls' database time on 10 million calls in PostgreSQL (EXPLAIN ANALYZE, BUFFERS).

    .venv/bin/python bench/search_calls.py [--rows 10000000] [--database callportal_search_bench]
    .venv/bin/python bench/search_calls.py --reuse     # measure again without reloading

Recreates the PostgreSQL database given (it is dropped first!), migrates it, and fills it in
one INSERT … SELECT over generate_series with the secondary indexes dropped and built again
afterwards (bench/benchdb.py): calls spread evenly over `--days` (365) days, about 27,400 a
day; 50,021 external numbers (+44201000000 … +44201050020, ~200 calls each: "typical"),
2,000 extensions, and one hot number (extension 8800) on one side of every 25th call: 400,000 calls.

Then it runs each SearchCalls query shape the API runs (search/search_calls.py, the same code)
and prints PostgreSQL's planning and execution time, the buffers touched and the plan's top
nodes, for: a one-day and a 31-day anynum search with the hot and with a typical number, a
partial number, two numbers, the hot number's month in every `orderby` both ways (the
last month, and one in the middle of the table: "31 mid days"), an
anyname search, a name and a number together, and a deep page. `--json FILE` also writes
the figures (bench/run.py reads them for its table). A shorter run keeps the month's shape:
`--rows 2000000 --days 73` has the same calls per day as 10 M over 365 days. The goal
(issue 10): ≤ 50 ms of database time for one day, ≤ 200 ms for 31 days. Each query runs
once to warm the cache, then the median of 5 runs is reported.
"""

import argparse
import json
import statistics
import subprocess
import sys
from datetime import timedelta

from benchdb import ROOT, django_env, fill_calls, indexes_built_after, recreate, setup_django

HOT = "8800"
HOT_EVERY = 25
RUNS = 5


def load(database: str, rows: int, days: float) -> None:
    recreate(database)
    with indexes_built_after(database):
        seconds = fill_calls(database, rows, hot=HOT, hot_every=HOT_EVERY, days=days)
    print(f"filled {rows:,} calls over {days:g} days in {seconds:.0f} s (indexes built after)")
    from benchdb import connect

    connection = connect(database)
    connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE calls_call")
    connection.close()


def migrate(database: str) -> None:
    """Bring a loaded database's schema up to the code's (the calls stay)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=django_env(database),
        check=True,
    )


def measure(database: str, only: str = "") -> dict:
    """Each case's figures (also printed): rows, planning and execution ms, the plan."""
    setup_django(database)
    from django.db import connection
    from django.utils import timezone

    from search.search_calls import CdrStatus, OrderBy, PeriodSearch

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), min(started_at), max(started_at) FROM calls_call")
        total, oldest, newest = cur.fetchone()
    now = timezone.now()
    # A typical external number: ~200 calls in all.
    typical = "+44201012345"
    day_end = newest - timedelta(days=3)
    day = (day_end - timedelta(days=1), day_end)
    month = (day_end - timedelta(days=31), day_end)
    # A month far from the newest and the oldest calls: an order by end walked the end
    # index across every call in between.
    middle = oldest + (newest - oldest) / 2
    middle_month = (middle - timedelta(days=15.5), middle + timedelta(days=15.5))
    print(f"{total:,} calls; hot number {HOT}; typical number {typical}")

    def search(period, **kwargs):
        return PeriodSearch(started_from=period[0], started_before=period[1], **kwargs)

    cases = [
        ("1 day, anynum hot", search(day, number_parts=(HOT,)), 0),
        ("1 day, anynum typical", search(day, number_parts=(typical,)), 0),
        ("1 day, anynum part (7 digits)", search(day, number_parts=("1012345",)), 0),
        ("31 days, anynum hot", search(month, number_parts=(HOT,)), 0),
        ("31 days, anynum typical", search(month, number_parts=(typical,)), 0),
        ("31 days, anynum part (7 digits)", search(month, number_parts=("1012345",)), 0),
        ("1 day, anynum extension (~5,000 calls)", search(day, number_parts=("7123",)), 0),
        ("31 days, anynum extension (~5,000 calls)", search(month, number_parts=("7123",)), 0),
        ("31 days, anynum of 2 digits", search(month, number_parts=("42",)), 0),
        ("31 days, anynum hot + typical", search(month, number_parts=(HOT, typical)), 0),
        # Every order, both ways, on the hot number's month (issue 24: by duration it read
        # and sorted every match).
        *(
            (
                f"31 days, anynum hot, {order.value} {'desc' if descending else 'asc'}",
                search(month, number_parts=(HOT,), order_by=order, descending=descending),
                0,
            )
            for order in OrderBy
            for descending in (True, False)
        ),
        *(
            (
                f"31 mid days, anynum hot, {order.value} {'desc' if descending else 'asc'}",
                search(middle_month, number_parts=(HOT,), order_by=order, descending=descending),
                0,
            )
            for order in OrderBy
            for descending in (True, False)
        ),
        *(
            (
                f"31 days, anynum typical, {order.value} desc",
                search(month, number_parts=(typical,), order_by=order),
                0,
            )
            for order in OrderBy
            if order is not OrderBy.START_TIME
        ),
        ("31 days, anynum hot, page 10", search(month, number_parts=(HOT,)), 900),
        ("1 day, anyname", search(day, name_parts=("caller 42",)), 0),
        ("31 days, anyname", search(month, name_parts=("caller 42",)), 0),
        (
            "31 days, anyname + anynum typical",
            search(month, name_parts=("caller",), number_parts=(typical,)),
            0,
        ),
        ("1 day, no parts", search(day), 0),
        (
            "1 day, ongoing, anynum hot",
            search(day, number_parts=(HOT,), status=CdrStatus.ONGOING),
            0,
        ),
    ]
    print(f"{'case':42} {'rows':>5} {'plan ms':>8} {'exec ms':>8} {'db ms':>8}  buffers")
    results: dict = {"calls": total, "cases": {}}
    for label, query, offset in cases:
        if only not in label:
            continue
        figures = []
        for run in range(RUNS + 1):
            plans = explain_steps(connection, query, offset=offset, now=now)
            if run:
                figures.append(plans)
        times = [sum(p["planning"] + p["execution"] for p in plans) for plans in figures]
        middle = figures[times.index(statistics.median_low(times))]
        planning = sum(p["planning"] for p in middle)
        execution = sum(p["execution"] for p in middle)
        buffers = " + ".join(p["buffers"] for p in middle)
        print(
            f"{label:42} {middle[-1]['found']:>5} {planning:8.2f} {execution:8.2f} "
            f"{planning + execution:8.2f}  {buffers}"
        )
        for plan in middle:
            print(f"    {plan['top']}")
        results["cases"][label] = {
            "rows": middle[-1]["found"],
            "db_ms": round(planning + execution, 2),
            "goal_ms": 50.0 if label.startswith("1 day") else 200.0,
            "plan": middle[-1]["top"][:160],
        }
    return results


def explain_steps(connection, search, *, offset: int, now, scope=None) -> list[dict]:
    """The figures of each query SearchCalls sends for `search` (search.search_calls's
    period_steps, the same code); the last one's "found" is the page's length."""
    from directory.scopes import EVERYTHING
    from search.search_calls import period_steps

    steps = period_steps(search, offset=offset, limit=100, now=now, scope=scope or EVERYTHING)
    plans = []
    try:
        query = next(steps)
        while True:
            plans.append(_explain(connection, query))
            query = steps.send(list(query))
    except StopIteration as done:
        plans[-1]["found"] = max(len(done.value) - offset, 0)
    return plans


def _explain(connection, queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        (result,) = cur.fetchone()
    if isinstance(result, str):
        result = json.loads(result)
    root = result[0]
    plan = root["Plan"]
    return {
        "planning": root["Planning Time"],
        "execution": root["Execution Time"],
        "rows": plan["Actual Rows"],
        "buffers": f"hit {plan.get('Shared Hit Blocks', 0)} "
        f"read {plan.get('Shared Read Blocks', 0)}",
        "top": " → ".join(_nodes(plan))[:300],
    }


def _nodes(plan: dict, depth: int = 0) -> list[str]:
    name = plan["Node Type"]
    if "Index Name" in plan:
        name += f" ({plan['Index Name']})"
    nodes = [name]
    for child in plan.get("Plans", [])[:2]:
        if depth < 4:
            nodes.append("[" + " | ".join(_nodes(child, depth + 1)) + "]")
    return nodes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--database", default="callportal_search_bench")
    parser.add_argument("--reuse", action="store_true", help="measure the existing database")
    parser.add_argument("--load-only", action="store_true", help="load, do not measure")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--only", default="", help="only the cases whose label holds this")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.reuse:
        migrate(args.database)
    else:
        load(args.database, args.rows, args.days)
    if not args.load_only:
        figures = measure(args.database, args.only)
        if args.json:
            with open(args.json, "w") as out:
                json.dump(figures, out, indent=1)
