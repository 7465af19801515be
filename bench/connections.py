"""Bounded database connections under load: 300 concurrent clients, max_connections=50.

    .venv/bin/python bench/connections.py [--clients 300] [--requests 20] [--pool 5]
                                          [--workers 2] [--worker-class gevent]

Starts a throw-away PostgreSQL cluster with `max_connections=50` on a free loopback port
(bench/pgcluster.py: the owner and app roles of docs/deployment.md; the app is no
superuser), migrates it as the owner, starts gunicorn with gunicorn.conf.py as the app
role, then runs `--clients` client threads at once, each sending `--requests` requests
(alternately GetCallURL status=last and a call written through the ingestion API). Reports
failed requests, latency percentiles, and the peak number of the app role's PostgreSQL
sessions (sampled every 20 ms). `--pool 0` runs the old setup (no pool) for comparison.
Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from pgcluster import OWNER, ThrowawayCluster

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--pool", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gevent")
    parser.add_argument("--max-connections", type=int, default=50)
    parser.add_argument("--port", type=int, default=8191)
    args = parser.parse_args()
    if not 1 <= args.clients <= 2000 or not 1 <= args.requests <= 1000:
        parser.error("--clients 1..2000, --requests 1..1000")

    with ThrowawayCluster(max_connections=args.max_connections) as cluster:
        env = {
            **os.environ,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "API_DIGEST_KEY": secrets.token_urlsafe(32),
            "API_THROTTLE": "off",
            "DB_POOL_SIZE": str(args.pool),
            "DB_CONN_MAX_AGE": "60",
            "WEB_CONCURRENCY": str(args.workers),
            "GUNICORN_WORKER_CLASS": args.worker_class,
            "GUNICORN_THREADS": "200",
            "MEDIA_ROOT": tempfile.mkdtemp(prefix="callportal-bench-media-"),
        }
        manage = [sys.executable, "manage.py"]
        owner = {**env, "DATABASE_URL": cluster.url(OWNER)}
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=owner, check=True)
        app = {**env, "DATABASE_URL": cluster.url(), "BIND": f"127.0.0.1:{args.port}"}
        query_key = make_key(manage, app, "bench query")
        ingest_key = make_key(manage, app, "bench ingest", "--ingest")
        log = Path(env["MEDIA_ROOT"]) / "gunicorn.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/gunicorn"),
                    "--config",
                    "gunicorn.conf.py",
                    "--access-logfile",
                    "/dev/null",
                    "callportal.wsgi",
                ],
                cwd=ROOT,
                env=app,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{args.port}"
        try:
            wait_until_ready(base)
            sampler = Sampler(cluster.port)
            print(
                f"PostgreSQL max_connections={args.max_connections}; gunicorn "
                f"{args.worker_class}, {args.workers} workers, DB_POOL_SIZE={args.pool}; "
                f"{args.clients} clients x {args.requests} requests"
            )
            results = run_clients(base, query_key, ingest_key, args.clients, args.requests)
            peak = sampler.stop()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
        written = cluster.psql("callportal", "SELECT count(*) FROM calls_call")
    report(results, peak, int(written))
    return 0


def make_key(manage: list[str], env: dict[str, str], name: str, *flags: str) -> str:
    created = subprocess.run(
        [*manage, "create_api_key", name, *flags],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def wait_until_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not become ready")


class Sampler:
    """Peak number of the app role's sessions, from a superuser connection of its own."""

    def __init__(self, port: int) -> None:
        self._db = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        self._db.autocommit = True
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._db.cursor() as cursor:
            while not self._stop.wait(0.02):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'callportal_app'"
                )
                self.peak = max(self.peak, cursor.fetchone()[0])

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._db.close()
        return self.peak


def run_clients(base: str, query_key: str, ingest_key: str, clients: int, requests: int):
    start = threading.Barrier(clients)
    lock = threading.Lock()
    took: list[float] = []
    failures: dict[str, int] = {}
    writes = [0]

    def one(i: int) -> None:
        mine, bad = [], []
        start.wait()
        for n in range(requests):
            began = time.perf_counter()
            try:
                if n % 2:
                    status, body = post_call(base, ingest_key, f"6{i:04d}")
                    ok = status == 201
                    if ok:
                        with lock:
                            writes[0] += 1
                else:
                    query = {
                        "action": "GetCallURL",
                        "apiKey": query_key,
                        "extension": "5000",
                        "status": "last",
                        "responseType": "TEXT",
                    }
                    status, body = fetch(f"{base}/verba/api?{urllib.parse.urlencode(query)}")
                    ok = status == 200 and body.startswith("ERROR 2")
            except OSError as error:
                ok, status, body = False, 0, type(error).__name__
            mine.append(time.perf_counter() - began)
            if not ok:
                bad.append(f"{status} {body[:80].strip()}")
        with lock:
            took.extend(mine)
            for b in bad:
                failures[b] = failures.get(b, 0) + 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took, failures, writes[0], time.monotonic() - began


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post_call(base: str, key: str, number: str) -> tuple[int, str]:
    body = {
        "caller_number": "+442071111111",
        "called_number": number,
        "started_at": datetime.now(UTC).isoformat(),
    }
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/calls",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def report(results, peak: int, written: int) -> None:
    took, failures, writes, seconds = results
    ordered = sorted(took)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{len(took)} requests in {seconds:.1f} s ({len(took) / seconds:.0f}/s): "
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )
    print(f"failed requests: {sum(failures.values())}")
    for what, count in sorted(failures.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count} x {what}")
    print(f"calls answered 201: {writes}; calls in the database: {written}")
    print(f"peak PostgreSQL sessions of the app role: {peak}")


if __name__ == "__main__":
    sys.exit(main())
