"""The admin's read paths on a large database: call search, per-key counts and chart, CSV export.

    .venv/bin/python bench/admin_reads.py [--calls 10000000] [--audit-rows N] [--runs 7]
                                          [--export-rows 1000000,10000000] [--no-export]

Uses bench/run.py's database `bench13_calls_<calls>` (created, migrated and loaded when
missing or of another shape: the calls with COPY, `--audit-rows` audit rows, default as
many as calls, over 60 days for five keys, the first with 70 %, and their hourly usage
roll-up). Then, with this checkout's code, through Django's test client as a superuser:

- the call list searched for a number whose calls are all old, the hot extension (4 % of
  calls), a warm one (1 %) and an ordinary one: the request's median time and the database
  time of its SELECTs (EXPLAIN ANALYZE execution, summed);
- the API key list (24-hour counts per key) and the busiest key's page (30-day chart),
  likewise, beside the raw-trail queries they replaced (for the before/after);
- the CSV export of the newest `--export-rows` calls, each in a child process: its peak
  resident memory (ru_maxrss) against the same process's before the export, the bytes
  and the seconds.

Prints one JSON document; every figure carries the load average (1 min) when it was taken,
since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def load() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--audit-rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--export-rows", default="1000000,10000000")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--export-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    database = args.database or f"bench13_calls_{args.calls}"
    if args.export_child is not None:
        json.dump(export_child(database, args.export_child), sys.stdout)
        return

    from benchdb import ROOT
    from dataset import CallShape, ensure_calls
    from run import audit_key_id, ensure_audit, prepare_database

    prepare_database(database, ROOT)
    ensure_calls(database, CallShape(rows=args.calls))
    ensure_audit(database, args.calls if args.audit_rows is None else args.audit_rows, ROOT)
    busiest = audit_key_id(database)

    result: dict[str, Any] = {"database": database, "started_load": load()}
    result.update(measure_in_process(database, busiest, args.runs))
    if not args.no_export:
        result["export"] = [
            run_export_child(database, int(rows)) for rows in args.export_rows.split(",")
        ]
    json.dump(result, sys.stdout, indent=1)
    print()


def setup(database: str) -> None:
    from benchdb import setup_django

    # The test client's host; the production settings allow localhost only.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    setup_django(database)


def admin_client():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    return client


def explain_ms(sql: str, params: Any = None) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Execution Time"]


def page(client, url: str, params: dict[str, str], runs: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Median request time, and the database time of the page's SELECTs (sessions and
    users aside), each the median of three EXPLAIN ANALYZE runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get() -> None:
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")

    get()  # warm: caches, the connection, the planner
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        get()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        get()
    selects = [
        q["sql"]
        for q in captured
        if q["sql"].lstrip().upper().startswith("SELECT")
        and "django_session" not in q["sql"]
        and not q["sql"].startswith('SELECT "auth_user"')
    ]
    db_ms = sum(statistics.median(explain_ms(sql) for _ in range(3)) for sql in selects)
    return {
        "request_ms": round(statistics.median(times), 1),
        "db_ms": round(db_ms, 2),
        "selects": len(selects),
        "load": load(),
    }


def measure_in_process(database: str, busiest: int | None, runs: int) -> dict[str, Any]:
    setup(database)
    from dataset import HOT, OLD_NUMBER, WARM

    client = admin_client()
    out: dict[str, Any] = {"admin search": {}, "keys": {}}
    for label, number in (
        ("number with only old calls", OLD_NUMBER),
        ("hot extension (4 %)", HOT),
        ("warm extension (1 %)", WARM),
        ("ordinary extension", "7001"),
    ):
        out["admin search"][label] = page(client, "/admin/calls/call/", {"q": number}, runs)
    if busiest is None:
        return out
    out["keys"]["key list (24 h counts)"] = page(client, "/admin/apikeys/apikey/", {}, runs)
    out["keys"]["key page (30-day chart)"] = page(
        client, f"/admin/apikeys/apikey/{busiest}/change/", {}, runs
    )
    # What the same pages asked of the raw trail before the roll-up, for the comparison.
    raw = {
        "raw trail: 24 h count, busiest key": (
            "SELECT count(*) FROM audit_apirequest WHERE api_key_id = %s "
            "AND at >= now() - interval '24 hours'"
        ),
        "raw trail: 30-day chart, busiest key": (
            "SELECT date_trunc('day', at), result_code, count(*) FROM audit_apirequest "
            "WHERE api_key_id = %s AND at >= now() - interval '30 days' GROUP BY 1, 2"
        ),
    }
    for label, sql in raw.items():
        out["keys"][label] = {
            "db_ms": round(statistics.median(explain_ms(sql, [busiest]) for _ in range(3)), 1),
            "load": load(),
        }
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_hourlyusage")
        out["keys"]["roll-up rows"] = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_apirequest'")
        out["keys"]["audit rows (estimate)"] = cursor.fetchone()[0]
    return out


def run_export_child(database: str, rows: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--database", database, "--export-child", str(rows)],
        cwd=BENCH,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export_child(database: str, rows: int, sink: Any = None) -> dict[str, Any]:
    """In its own process: export the `rows` newest calls (whole days: at least `rows`);
    `sink` is handed every piece of the export."""
    setup(database)
    from calls.models import Call
    from calls.resources import CallResource

    client = admin_client()
    total = Call.objects.count()
    query = ""
    if rows < total:
        oldest = Call.objects.order_by("-started_at").values_list("started_at", flat=True)[rows - 1]
        query = f"?started_at__range_from={oldest.date().isoformat()}"
    before = rss_mib()
    load_before = load()
    started = time.perf_counter()
    every_column = {f"callresource_{name}": "on" for name in CallResource.Meta.fields}
    response = client.post(f"/admin/calls/call/export/{query}", {"format": "0", **every_column})
    size = lines = 0
    reported = 0
    if response.streaming:
        for chunk in response.streaming_content:
            if sink is not None:
                sink(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
            if lines - reported >= 250_000:
                # Progress on stderr, for an export stopped before its end.
                reported = lines
                print(
                    f"{time.perf_counter() - started:.0f} s: {lines - 1} rows, "
                    f"peak RSS {rss_mib()} MiB, load {load()}",
                    file=sys.stderr,
                    flush=True,
                )
    else:
        size, lines = len(response.content), response.content.count(b"\n")
    return {
        "rows_asked": rows,
        "rows_exported": lines - 1,
        "status": response.status_code,
        "streaming": bool(response.streaming),
        "mib": round(size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "rss_before_mib": before,
        "peak_rss_mib": rss_mib(),
        "load_before": load_before,
        "load_after": load(),
    }


if __name__ == "__main__":
    main()
