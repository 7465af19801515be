"""Benchmark of `status=next` on the production server setup, on loopback only.

Starts gunicorn with gunicorn.conf.py (the setup of `make serve`) on 127.0.0.1, then:

1. times ordinary API requests (GetCallURL status=last) with nobody waiting: the baseline;
2. parks N `next` requests, each on its own number, and times the same ordinary requests
   again while they wait (and, on PostgreSQL, counts the server's database sessions);
3. writes one call per waited-for number, alternating between the ingestion API (a
   writer inside the server, which announces the call) and a plain ORM insert from this
   process (a writer elsewhere, found only by the watchers' look at the database), and
   reports how long after each write its `next` request was answered.

Usage (from the project root; everything is bounded and stays on 127.0.0.1):

    .venv/bin/python bench/longpoll.py                       # a throw-away SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callportal_bench \\
        .venv/bin/python bench/longpoll.py --waiters 80      # an existing, empty database

Options: --waiters N (default 80), --others N (default 200) ordinary requests sent by
--concurrency C clients at once (default 8), --port P (default 8190), --window S (default
30). Server sizing comes from the usual variables (GUNICORN_WORKER_CLASS, WEB_CONCURRENCY,
GUNICORN_THREADS, DB_POOL_SIZE, NEXT_MAX_WAITING, NEXT_POLL_SECONDS). On PostgreSQL the
server's sessions are sampled every 20 ms for the whole run and the peak is reported.

The contact-centre figure (docs/deployment.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callportal_bench \
        .venv/bin/python bench/longpoll.py --waiters 1000 --others 2000
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_WAITERS = 2000
SERVER_APP_NAME = "callportal-bench-server"


def main() -> int:
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="callportal-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "API_DIGEST_KEY": secrets.token_urlsafe(32),
            "API_THROTTLE": "off",
            "NEXT_WINDOW_SECONDS": str(args.window),
            "DJANGO_SETTINGS_MODULE": "callportal.settings",
            "MEDIA_ROOT": f"{workdir}/media",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    query_key, ingest_key = make_keys()
    finished_number = "5000"
    make_finished_call(finished_number)

    server_log = Path(workdir) / "gunicorn.log"
    server = start_server(args.port, server_log)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_until_up(base, query_key)
        print(describe_setup())

        other = api_url(base, query_key, extension=finished_number, status="last")
        sampler = SessionSampler()
        baseline = time_requests(other, args.others, args.concurrency)
        print(report_line("ordinary requests, nobody waiting", baseline))

        numbers = [f"7{n:05d}" for n in range(args.waiters)]
        waiters = [Waiter(api_url(base, query_key, extension=n, status="next")) for n in numbers]
        # Every next request has arrived and made its first look.
        time.sleep(2.0 + args.waiters / 250)
        sessions = database_sessions()
        busy = time_requests(other, args.others, args.concurrency)
        print(report_line(f"ordinary requests, {args.waiters} next requests waiting", busy))
        refused = sum(1 for w in waiters if w.done.is_set() and w.status == 503)
        print(f"next requests refused at once (503, process full): {refused}")
        if sessions is not None:
            print(f"PostgreSQL sessions of the server while they wait: {sessions}")

        written: dict[str, tuple[str, float]] = {}
        for i, number in enumerate(numbers):
            if i % 2 == 0:
                call_id = post_call(base, ingest_key, number)
                written[number] = ("ingestion API (announced)", time.monotonic())
            else:
                call_id = insert_call(number)
                written[number] = ("plain insert elsewhere (watcher)", time.monotonic())
            waiters[i].expected = call_id

        for waiter in waiters:
            waiter.done.wait(args.window + 15)
        report_releases(waiters, numbers, written)
        sessions = database_sessions()
        if sessions is not None:
            print(f"PostgreSQL sessions of the server after the releases: {sessions}")
            print(f"PostgreSQL sessions of the server, peak over the whole run: {sampler.stop()}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=args.window + 30)
        print(f"server log: {server_log}")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=80)
    parser.add_argument("--others", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    if not 1 <= args.waiters <= MAX_WAITERS:
        parser.error(f"--waiters must be 1..{MAX_WAITERS}")
    return args


def make_keys() -> tuple[str, str]:
    from apikeys.services import create_api_key

    suffix = secrets.token_hex(3)
    query = create_api_key(f"bench query {suffix}")[1]
    ingest = create_api_key(f"bench ingest {suffix}", can_ingest=True, can_query=False)[1]
    return query, ingest


def make_finished_call(number: str) -> None:
    from calls.models import Call

    started = datetime.now(UTC) - timedelta(minutes=10)
    Call.objects.create(
        caller_number="+442070000000",
        called_number=number,
        started_at=started,
        ended_at=started + timedelta(minutes=3),
    )


def start_server(port: int, log: Path) -> subprocess.Popen:
    # The server's sessions carry this name, so the benchmark can count them.
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "PGAPPNAME": SERVER_APP_NAME}
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--config",
                "gunicorn.conf.py",
                "--access-logfile",
                "/dev/null",
                "callportal.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(base: str, key: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(api_url(base, key, action="RequestToken"))
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def describe_setup() -> str:
    from django.conf import settings
    from django.db import connection

    worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
    per_worker = (
        f"{os.environ.get('GUNICORN_THREADS', '64')} threads"
        if worker_class == "gthread"
        else f"{os.environ.get('GUNICORN_WORKER_CONNECTIONS', '1250')} connections"
    )
    pool = settings.DATABASES["default"].get("POOL_OPTIONS", {}).get("POOL_SIZE", "no pool")
    return (
        f"server: gunicorn {worker_class}, {os.environ.get('WEB_CONCURRENCY', '2')} workers x "
        f"{per_worker}, NEXT_MAX_WAITING={settings.NEXT_MAX_WAITING} per worker, "
        f"NEXT_POLL_SECONDS={settings.NEXT_POLL_SECONDS}, DB_POOL_SIZE={pool}; "
        f"database: {connection.vendor}"
    )


def api_url(base: str, key: str, **params: str) -> str:
    query = {"action": "GetCallURL", "apiKey": key, "responseType": "TEXT", **params}
    return f"{base}/verba/api?{urllib.parse.urlencode(query)}"


def fetch(url: str, timeout: float = 120) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def time_requests(url: str, count: int, concurrency: int = 1) -> list[float]:
    """`count` requests from `concurrency` clients at once; each one's time."""
    took: list[float] = []
    failed: list[int] = []
    lock = threading.Lock()

    def client(share: int) -> None:
        mine = []
        for _ in range(share):
            started = time.perf_counter()
            status, _ = fetch(url)
            mine.append(time.perf_counter() - started)
            if status != 200:
                failed.append(status)
        with lock:
            took.extend(mine)

    shares = [
        count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)
    ]
    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"{len(failed)} ordinary requests failed, e.g. HTTP {failed[0]}")
    return took


class Waiter:
    """One `next` request in its own thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status: int | None = None
        self.body = ""
        self.expected: str | None = None
        self.answered_at: float | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            self.status, self.body = fetch(self.url)
        except OSError as error:
            self.status, self.body = 0, type(error).__name__
        self.answered_at = time.monotonic()
        self.done.set()


def post_call(base: str, key: str, number: str) -> str:
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
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read())["id"]


def insert_call(number: str) -> str:
    from calls.models import Call

    call = Call.objects.create(
        caller_number="+442072222222", called_number=number, started_at=datetime.now(UTC)
    )
    return str(call.pk)


_SESSIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"


def database_sessions() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_SESSIONS_SQL, [SERVER_APP_NAME])
        return cursor.fetchone()[0]


class SessionSampler:
    """The peak number of the server's PostgreSQL sessions, sampled every 20 ms."""

    def __init__(self) -> None:
        from django.db import connection

        self.peak = 0
        self._stop = threading.Event()
        self._thread = None
        if connection.vendor == "postgresql":
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(0.02):
                with connection.cursor() as cursor:
                    cursor.execute(_SESSIONS_SQL, [SERVER_APP_NAME])
                    self.peak = max(self.peak, cursor.fetchone()[0])
        finally:
            connection.close()

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


def report_line(label: str, took: list[float]) -> str:
    return f"{label}: {len(took)} requests, {percentiles(took)}"


def report_releases(
    waiters: list[Waiter], numbers: list[str], written: dict[str, tuple[str, float]]
) -> None:
    by_kind: dict[str, list[float]] = {}
    wrong = unanswered = refused = 0
    for waiter, number in zip(waiters, numbers, strict=True):
        kind, written_at = written[number]
        if waiter.status == 503:
            refused += 1
            continue
        if waiter.answered_at is None:
            unanswered += 1
            continue
        if waiter.status != 200 or not waiter.body.strip().endswith(f"={waiter.expected}"):
            wrong += 1
            continue
        by_kind.setdefault(kind, []).append(max(0.0, waiter.answered_at - written_at))
    for kind, took in sorted(by_kind.items()):
        print(f"released after the write, {kind}: {len(took)} requests, {percentiles(took)}")
    print(f"refused (503): {refused}, wrong answer: {wrong}, no answer: {unanswered}")
    bodies = {w.body.strip() for w in waiters if w.status not in (200, None)}
    for body in sorted(bodies)[:5]:
        print(f"  non-200 answer: {body[:120]}")


if __name__ == "__main__":
    sys.exit(main())
