"""Benchmark: nothing slow stalls anyone (issue 19, items 1–3), on the production setup.

Starts gunicorn with gunicorn.conf.py (`make serve`: gevent workers, the pooled PostgreSQL
backend) on 127.0.0.1 with a throw-away media folder, then measures:

1. Transcodes. One call with a two-hour FLAC recording. While a prober on its own
   connection asks GetCallURL over and over, ROUND (20) clients ask GetMediaEncoded
   `format=mp3` of that recording at once; then the same again (the second round should
   read the kept copy). Reports each round's wall time, their ratio, the answers (200 /
   busy), and the probes' p50 / p99 / max and how many took over 1 s.
2. Stalled uploads. STALLED (100) recording uploads announce 10 MB and send a few bytes,
   then nothing. GetCallURL is timed from 8 clients before and while they stall: p50 / p99,
   and whether every answer is the same.
3. Pool fairness. CLIENTS (300, then 600) keep-alive clients ask GetCallURL as fast as they
   can for DURATION seconds: p50 / p99 / max and failures (503 / code 9 or errors), against
   queue ÷ throughput (the wait of every request if all are served in turn); the same for
   the first request of each connection (which also waits to be accepted by a worker) and
   for the later ones apart.

Usage (from the project root; needs PostgreSQL on 127.0.0.1:5432; the database is made if
missing and its calls and keys are the benchmark's own):

    .venv/bin/python bench/stalls.py
    .venv/bin/python bench/stalls.py --database callportal_stalls --clients 300 600 \\
        --duration 15 --round 20 --stalled 100

The load generator runs on the same machine (threads in this process): on a shared 2-core
machine its own CPU use is part of every figure. Report the load average with the figures.
"""

from __future__ import annotations

import argparse
import array
import http.client
import io
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = "5000"


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="callportal-stalls-"))
    ensure_database(args.database)
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
            "MEDIA_ROOT": str(workdir / "media"),
            "API_THROTTLE": "off",
            "API_TOKEN_THROTTLE": "off",
            "DJANGO_SETTINGS_MODULE": "callportal.settings",
        }
    )
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()
    query_key, ingest_key = make_keys()
    long_call = make_long_call() if {1, 2} & set(args.parts) else ""
    make_finished_call()
    port = free_port()
    base = f"127.0.0.1:{port}"
    server = start_server(port, workdir / "server.log")
    try:
        wait_until_up(base)
        print(describe_setup())
        print(f"load average before: {load_average()}")
        if 1 in args.parts:
            transcodes(base, query_key, long_call, args.round)
        if 2 in args.parts:
            stalled_uploads(base, query_key, ingest_key, long_call, args.stalled)
        if 3 in args.parts:
            for clients in args.clients:
                fairness(base, query_key, clients, args.duration)
        print(f"load average after: {load_average()}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="callportal_stalls")
    parser.add_argument("--round", type=int, default=20)
    parser.add_argument("--stalled", type=int, default=100)
    parser.add_argument("--clients", type=int, nargs="*", default=[300, 600])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--parts", type=int, nargs="*", default=[1, 2, 3], help="1 2 3")
    return parser.parse_args()


# --- Setup ------------------------------------------------------------------------------------


def ensure_database(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def make_keys() -> tuple[str, str]:
    from apikeys.services import create_api_key

    suffix = secrets.token_hex(3)
    query = create_api_key(f"stalls query {suffix}")[1]
    ingest = create_api_key(f"stalls ingest {suffix}", can_ingest=True, can_query=False)[1]
    return query, ingest


def two_hour_flac() -> bytes:
    """Two hours at 8 kHz: a short tone at the start of each second, then silence."""
    import av

    out = io.BytesIO()
    container = av.open(out, "w", format="flac")
    stream = container.add_stream("flac", rate=8000, layout="mono")
    second = array.array(
        "h",
        [int(3000 * math.sin(2 * math.pi * 440 * n / 8000)) if n < 800 else 0 for n in range(8000)],
    ).tobytes()
    for index in range(7200):
        frame = av.AudioFrame(format="s16", layout="mono", samples=8000)
        frame.planes[0].update(second)
        frame.sample_rate = 8000
        frame.pts = index * 8000
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return out.getvalue()


def make_long_call() -> str:
    from calls.models import Call
    from calls.services import store_recording

    started = datetime.now(UTC) - timedelta(hours=3)
    call = Call.objects.create(
        caller_number="+442070000001",
        called_number="7000",
        started_at=started,
        ended_at=started + timedelta(hours=2),
    )
    flac = two_hour_flac()
    store_recording(call, io.BytesIO(flac), "audio/flac")
    print(f"recording: {len(flac) / 1e6:.1f} MB FLAC, 2 hours at 8 kHz")
    return str(call.pk)


def make_finished_call() -> None:
    from calls.models import Call

    started = datetime.now(UTC) - timedelta(minutes=10)
    Call.objects.create(
        caller_number="+442070000000",
        called_number=NUMBER,
        started_at=started,
        ended_at=started + timedelta(minutes=3),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "BIND": f"127.0.0.1:{port}"}
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


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request(base, "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def describe_setup() -> str:
    from django.conf import settings

    pool = settings.DATABASES["default"].get("POOL_OPTIONS", {}).get("POOL_SIZE", "no pool")
    return (
        f"server: gunicorn {os.environ.get('GUNICORN_WORKER_CLASS', 'gevent')}, "
        f"{os.environ.get('WEB_CONCURRENCY', '2')} workers, DB_POOL_SIZE={pool}, "
        f"CPU_POOL_THREADS={settings.CPU_POOL_THREADS}, AUDIO_WORK_MAX={settings.AUDIO_WORK_MAX}, "
        f"REQUEST_BODY_TIMEOUT_SECONDS={settings.REQUEST_BODY_TIMEOUT_SECONDS}; PostgreSQL"
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- HTTP -------------------------------------------------------------------------------------


def api_path(key: str, **params: str) -> str:
    query = {"apiKey": key, "responseType": "TEXT", **params}
    return "/verba/api?" + urllib.parse.urlencode(query)


def request(
    base: str, path: str, connection: http.client.HTTPConnection | None = None, timeout=120
) -> tuple[int, bytes]:
    own = connection is None
    host, port = base.split(":")
    connection = connection or http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        if own:
            connection.close()


def percentiles(values: list[float]) -> str:
    if not values:
        return "no answers"
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return f"p50 {at(0.5):.0f} ms, p99 {at(0.99):.0f} ms, max {ordered[-1] * 1000:.0f} ms"


class Prober:
    """GetCallURL over and over on one keep-alive connection, timing each answer."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.took: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        host, port = self.base.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        path = api_path(self.key, action="GetCallURL", extension=NUMBER, status="last")
        while not self._stop.is_set():
            asked = time.monotonic()
            try:
                status, body = request(self.base, path, connection)
            except (OSError, http.client.HTTPException):
                self.failed += 1
                connection.close()
                continue
            self.took.append(time.monotonic() - asked)
            if status != 200 or body.startswith(b"ERROR"):
                self.failed += 1
            self._stop.wait(0.02)
        connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- 1. Transcodes ----------------------------------------------------------------------------


def transcodes(base: str, key: str, call_id: str, clients: int) -> None:
    print(f"\n1. {clients} concurrent GetMediaEncoded format=mp3 of the 2-hour recording")
    path = api_path(key, action="GetMediaEncoded", callID=call_id, format="mp3")
    rounds = []
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()

    def download() -> None:
        try:
            status, body = request(base, path, timeout=600)
        except OSError:
            status, body = 0, b""
        with lock:
            answers.append((status, len(body)))

    for number in (1, 2):
        prober = Prober(base, key)
        answers.clear()
        began = time.monotonic()
        threads = [threading.Thread(target=download) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - began
        prober.stop()
        rounds.append(took)
        served = sum(1 for status, _ in answers if status == 200)
        busy = sum(1 for status, _ in answers if status == 503)
        sizes = {size for status, size in answers if status == 200}
        slow = sum(1 for t in prober.took if t > 1.0)
        print(
            f"   round {number}: {took:.1f} s; {served} served ({', '.join(map(str, sizes))} "
            f"bytes), {busy} busy (503), {clients - served - busy} other; "
            f"GetCallURL probes meanwhile: {len(prober.took)}, {percentiles(prober.took)}, "
            f"{slow} over 1 s, {prober.failed} failed"
        )
    print(f"   second round / first round: {rounds[1] / rounds[0]:.1%}")


# --- 2. Stalled uploads -----------------------------------------------------------------------


def timed_requests(base: str, path: str, count: int, clients: int = 8) -> tuple[list[float], set]:
    took: list[float] = []
    bodies: set[bytes] = set()
    lock = threading.Lock()
    per_client = count // clients

    def client() -> None:
        host, port = base.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        for _ in range(per_client):
            asked = time.monotonic()
            try:
                status, body = request(base, path, connection)
            except (OSError, http.client.HTTPException):
                status, body = 0, b"(error)"
                connection.close()
            with lock:
                took.append(time.monotonic() - asked)
                bodies.add(f"{status} ".encode() + body)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took, bodies


def stalled_uploads(base: str, key: str, ingest_key: str, call_id: str, count: int) -> None:
    print(f"\n2. {count} stalled recording uploads (10 MB announced, 12 bytes sent)")
    path = api_path(key, action="GetCallURL", extension=NUMBER, status="last")
    before, before_bodies = timed_requests(base, path, 400)
    host, port = base.split(":")
    stalled = []
    head = (
        f"PUT /api/v1/calls/{call_id}/recording HTTP/1.1\r\nHost: {base}\r\n"
        f"X-Api-Key: {ingest_key}\r\nContent-Type: audio/wav\r\nContent-Length: 10000000\r\n\r\n"
    ).encode()
    for _ in range(count):
        upload = socket.create_connection((host, int(port)), timeout=60)
        upload.sendall(head + b"RIFF\x24\x00\x00\x00WAVE")
        stalled.append(upload)
    during, during_bodies = timed_requests(base, path, 400)
    for upload in stalled:
        upload.close()
    print(f"   GetCallURL before: {percentiles(before)}")
    print(f"   GetCallURL while they stall: {percentiles(during)}")
    p99 = sorted(during)[int(0.99 * len(during))] / sorted(before)[int(0.99 * len(before))]
    same = before_bodies == during_bodies and len(before_bodies) == 1
    print(f"   p99 while stalled / before: {p99:.2f}x; every answer the same: {same}")


# --- 3. Pool fairness -------------------------------------------------------------------------


def fairness(base: str, key: str, clients: int, duration: float) -> None:
    """The clients run in a process of their own under gevent (one thread, cooperative
    sockets): threads in this process would queue for its GIL, and that wait would count as
    the server's."""
    print(f"\n3. {clients} keep-alive clients asking GetCallURL for {duration:.0f} s")
    path = api_path(key, action="GetCallURL", extension=NUMBER, status="last")
    code = (
        "from gevent import monkey; monkey.patch_all(); import sys; "
        f"sys.path.insert(0, {str(ROOT / 'bench')!r}); import stalls; "
        f"stalls.load({base!r}, {path!r}, {clients}, {duration})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    took, first, failures = result["took"], result["first"], result["failures"]
    answered = len(took) + len(first)
    print(
        f"   {answered} answered ({answered / duration:.0f}/s): {percentiles(took + first)}; "
        f"mean {statistics.fmean(took + first) * 1000 if answered else 0:.0f} ms; "
        f"queue / throughput = {clients / max(answered / duration, 1) * 1000:.0f} ms; failures: "
        + ", ".join(f"{kind} {n}" for kind, n in failures.items())
    )
    # A connection's first request also waits to be accepted; the later ones only queue.
    print(f"   first request of each connection: {percentiles(first)}")
    print(f"   later requests: {percentiles(took)}")


def load(base: str, path: str, clients: int, duration: float) -> None:
    """Run by fairness() in a gevent process: the clients; prints the results as JSON."""
    took: list[float] = []
    first: list[float] = []
    failures = {"503 / code 9": 0, "other status": 0, "connection error": 0}
    stop = threading.Event()

    def client() -> None:
        host, port = base.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        answers = first
        while not stop.is_set():
            asked = time.monotonic()
            try:
                status, body = request(base, path, connection)
                kind = (
                    None
                    if status == 200 and not body.startswith(b"ERROR")
                    else ("503 / code 9" if status == 503 else "other status")
                )
            except (OSError, http.client.HTTPException):
                kind = "connection error"
                connection.close()
                answers = first  # the next request opens a new connection
            if kind is None:
                answers.append(time.monotonic() - asked)
                answers = took
            else:
                failures[kind] += 1
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    print(json.dumps({"took": took, "first": first, "failures": failures}))


if __name__ == "__main__":
    raise SystemExit(main())
