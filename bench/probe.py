"""In-process measurements for bench/run.py, run with the server's code (`--app-dir`).

    python bench/probe.py < job.json > result.json

Reads a job (JSON on stdin: the Business API URLs to count, the numbers to look up),
answers with JSON: database queries per request for each URL (Django's test client, warm
caches, audit rows buffered as in production), the PostgreSQL planning and execution time
of every query a lookup sends (EXPLAIN ANALYZE, median of several runs), and the other read
paths at this size: the ingestion list and the admin's call search by number, the admin's
key list and usage chart, and the admin's CSV export's peak memory.
"""

import json
import os
import statistics
import sys
import time
import tracemalloc
from typing import Any

RUNS = 7


def main() -> None:
    job = json.load(sys.stdin)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_settings")
    os.environ.setdefault("AUDIT_FLUSH_SECONDS", "1")
    # The app (the working directory) before bench/, the script's own folder: a bench
    # script named like an app (bench/retention.py) must not hide it.
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    out: dict[str, Any] = {
        "queries": {},
        "lookup_db_ms": {},
        "read_paths": {},
    }
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    for name, url in job["urls"].items():
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        out["queries"][name] = len(captured)
        if name in job.get("explain", []):
            out["lookup_db_ms"][name] = _explained(captured, response)
    out["read_paths"] = _read_paths(job, client)
    json.dump(out, sys.stdout, indent=1)


def _explain(sql: str) -> tuple[float, float, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]
    return top["Planning Time"], top["Execution Time"], top["Plan"]["Node Type"]


def _explained(captured, response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Planning and execution time of each SELECT the request sent (median of RUNS)."""
    found = []
    for query in captured.captured_queries:
        from shared.sql import explainable

        sql = explainable(query["sql"])
        if sql is None:
            continue
        runs = [_explain(sql) for _ in range(RUNS)]
        found.append(
            {
                "table": next(
                    (t for t in ("calls_call", "apikeys_apisession", "apikeys_apikey") if t in sql),
                    "?",
                ),
                "planning_ms": round(statistics.median(r[0] for r in runs), 3),
                "execution_ms": round(statistics.median(r[1] for r in runs), 3),
                "top_node": runs[0][2],
            }
        )
    return {"status": response.status_code, "selects": found}


def _expect_ok(response) -> None:  # type: ignore[no-untyped-def]
    if response.status_code != 200:
        raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")


def _timed(fn, runs: int = RUNS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _db_ms(fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Total EXPLAIN ANALYZE execution time of the SELECTs `fn` sends, and how many."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    total = 0.0
    selects = [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    for sql in selects:
        if "django_session" in sql or ("auth_user" in sql and "calls_call" not in sql):
            continue
        total += statistics.median(_explain(sql)[1] for _ in range(3))
    return round(total, 2), len(selects)


def _measured(fn) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Request time and database time of `fn`; a request that fails (an older version's
    query running into the statement timeout) is reported as such."""
    started = time.perf_counter()
    try:
        fn()
        db_ms, selects = _db_ms(fn)
    except (SystemExit, Exception) as exc:
        failed = f"{type(exc).__name__}: {exc}"[:200]
        return {"failed": failed, "after_ms": round((time.perf_counter() - started) * 1000)}
    return {"request_ms": _timed(fn, 5), "db_ms": db_ms, "selects": selects}


def _read_paths(job: dict[str, Any], client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from apikeys.models import ApiKey
    from apikeys.services import create_api_key

    results: dict[str, Any] = {}
    _, ingest_key = create_api_key("Bench ingest", can_query=False, can_ingest=True)
    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    admin_client = type(client)()
    admin_client.force_login(admin)

    def ingest_list(number: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            response = client.get("/api/v1/calls", {"number": number}, HTTP_X_API_KEY=ingest_key)
            _expect_ok(response)

        return run

    def admin_search(number: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            response = admin_client.get("/admin/calls/call/", {"q": number})
            _expect_ok(response)

        return run

    for label, number in job["numbers"].items():
        for path, make in (("ingestion list", ingest_list), ("admin search", admin_search)):
            results[f"{path}, {label}"] = _measured(make(number))

    busiest = job.get("audit_key_id")
    if busiest:

        def key_list() -> None:
            _expect_ok(admin_client.get("/admin/apikeys/apikey/"))

        def key_page() -> None:
            url = f"/admin/apikeys/apikey/{busiest}/change/"
            _expect_ok(admin_client.get(url))

        for label, fn in (
            ("admin key list (24 h counts)", key_list),
            ("admin key page (30-day chart)", key_page),
        ):
            results[label] = _measured(fn)
        results["audit keys"] = ApiKey.objects.filter(pk=busiest).count()

    for rows in job.get("export_rows", []):
        results[f"admin CSV export, {rows:,} calls"] = _export_peak(admin_client, rows)
    return results


def _export_peak(admin_client, rows: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Peak Python memory while the admin exports the `rows` newest calls as CSV."""
    from calls.models import Call
    from calls.resources import CallResource

    oldest = Call.objects.order_by("-started_at").values_list("started_at", flat=True)[rows - 1]
    day = oldest.date().isoformat()
    tracemalloc.start()
    started = time.perf_counter()
    response = admin_client.post(
        f"/admin/calls/call/export/?started_at__range_from={day}",
        # Every column ticked: with none, the export form comes back instead of a file.
        {"format": "0", **{f"callresource_{name}": "on" for name in CallResource.Meta.fields}},
    )
    size = 0
    if getattr(response, "streaming", False):
        for chunk in response.streaming_content:
            size += len(chunk)
    else:
        size = len(response.content)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "status": response.status_code,
        "streaming": bool(getattr(response, "streaming", False)),
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_mib": round(peak / 2**20, 1),
    }


if __name__ == "__main__":
    main()
