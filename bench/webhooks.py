"""Benchmark: webhook delivery latency at a steady event rate, on the production setup.

Starts gunicorn with gunicorn.conf.py (gevent workers, WEB_CONCURRENCY of them, each with
its deliverer thread) on a throw-away PostgreSQL database, a webhook receiver on loopback,
and an open-loop client that writes calls through the ingestion API at --rate events a
minute: half of them new calls (`call.started`), half the ends of calls started
--end-after seconds before (`call.ended`). For each event it reports the time from the
write's request to the event's arrival at the receiver (the change commits between the two,
so this is an upper bound of "commit to receiver"), and from the write's answer (just after
the commit) to the arrival. It checks every event arrived, and counts duplicates.

Usage (from the project root; everything stays on 127.0.0.1):

    .venv/bin/python bench/webhooks.py                    # 1,000 events/min for 60 s
    .venv/bin/python bench/webhooks.py --rate 3000 --seconds 30

Options: --database NAME (dropped and created again; default callportal_bench_webhooks),
--rate N events a minute (1000), --seconds S (60), --end-after S (5), --clients C (8),
--port P (a free one). Server sizing from the usual variables (WEB_CONCURRENCY,
DB_POOL_SIZE, WEBHOOK_POLL_SECONDS, WEBHOOK_CONCURRENCY). The machine's load average is
printed before and after: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdb

ROOT = benchdb.ROOT


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="callportal_bench_webhooks")
    parser.add_argument("--rate", type=float, default=1000.0, help="events a minute")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--end-after", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Arrivals:
    """What the receiver got: (call id, event type) → arrival times (monotonic)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[tuple[str, str], list[float]] = {}
        self.ids: dict[tuple[str, str], set[str]] = {}
        self.changed = threading.Condition(self.lock)

    def add(self, call_id: str, kind: str, msg_id: str, at: float) -> None:
        with self.changed:
            self.times.setdefault((call_id, kind), []).append(at)
            self.ids.setdefault((call_id, kind), set()).add(msg_id)
            self.changed.notify_all()


def start_receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            at = time.monotonic()
            event = json.loads(body)
            arrivals.add(event["data"]["id"], event["type"], self.headers["webhook-id"], at)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    args = parse_args()
    benchdb.recreate(args.database)
    port = args.port or free_port()
    arrivals = Arrivals()
    receiver = start_receiver(arrivals)
    env = {
        **benchdb.django_env(args.database),
        "BIND": f"127.0.0.1:{port}",
        "API_THROTTLE": "off",
        "WEBHOOK_ALLOW_HTTP": "on",
        "WEBHOOK_ALLOW_PRIVATE": "on",
        "LOG_LEVEL": "WARNING",
    }
    manage(env, "add_webhook", f"http://127.0.0.1:{receiver.server_address[1]}/hooks")
    key = manage(env, "create_api_key", "Bench PBX", "--ingest", "--no-query")
    log = open(Path("/tmp") / f"bench-webhooks-{port}.log", "wb")  # noqa: SIM115, S108
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "callportal.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base)
        return run(args, base, key, arrivals, env)
    finally:
        server.terminate()
        server.wait(timeout=90)
        receiver.shutdown()
        log.close()


def wait_for(base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def write(base: str, key: str, method: str, path: str, body: dict) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": key},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()


def run(
    args: argparse.Namespace, base: str, key: str, arrivals: Arrivals, env: dict[str, str]
) -> int:
    interval = 60.0 / args.rate
    total = int(args.seconds / interval)
    sent: dict[tuple[str, str], tuple[float, float]] = {}  # event → (request, answer)
    sent_lock = threading.Lock()
    to_end: queue.Queue[tuple[float, str]] = queue.Queue()
    errors: list[str] = []

    def start_call(call_id: str) -> None:
        began = time.monotonic()
        body = {
            "id": call_id,
            "caller_number": "+442071234567",
            "called_number": "8856",
            "started_at": datetime.now(UTC).isoformat(),
        }
        try:
            write(base, key, "POST", "/api/v1/calls", body)
        except OSError as exc:
            errors.append(f"start: {exc}")
            return
        with sent_lock:
            sent[(call_id, "call.started")] = (began, time.monotonic())
        to_end.put((time.monotonic() + args.end_after, call_id))

    def end_call(call_id: str) -> None:
        began = time.monotonic()
        try:
            write(
                base, key, "PATCH", f"/api/v1/calls/{call_id}",
                {"ended_at": datetime.now(UTC).isoformat()},
            )  # fmt: skip
        except OSError as exc:
            errors.append(f"end: {exc}")
            return
        with sent_lock:
            sent[(call_id, "call.ended")] = (began, time.monotonic())

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(
        f"{args.rate:.0f} events/min for {args.seconds:.0f} s ({total} events), "
        f"WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')}, PostgreSQL"
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.clients) as clients:
        for n in range(total):
            planned = started + n * interval
            delay = planned - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # An end is written when one is due; otherwise a new call starts.
            try:
                due, call_id = to_end.get_nowait()
            except queue.Empty:
                due, call_id = 0.0, ""
            if call_id and due <= time.monotonic():
                clients.submit(end_call, call_id)
            else:
                if call_id:
                    to_end.put((due, call_id))
                clients.submit(start_call, str(uuid.uuid4()))
    # Every event, or 30 s after the last write.
    deadline = time.monotonic() + 30
    with arrivals.changed:
        arrivals.changed.wait_for(
            lambda: all(k in arrivals.times for k in sent) or time.monotonic() > deadline,
            timeout=35,
        )
    load_after = os.getloadavg()
    from_request, from_answer, missing, duplicates = [], [], 0, 0
    for event, (began, answered) in sent.items():
        times = arrivals.times.get(event)
        if not times:
            missing += 1
            continue
        duplicates += len(times) - 1
        from_request.append(min(times) - began)
        from_answer.append(max(min(times) - answered, 0.0))
    elapsed = time.monotonic() - started
    result = {
        "events": len(sent),
        "rate_per_min": round(len(sent) / elapsed * 60, 1),
        "missing": missing,
        "duplicates": duplicates,
        "write_errors": len(errors),
        "request_to_receiver_ms": summary(from_request),
        "answer_to_receiver_ms": summary(from_answer),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(result, indent=2))
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0 if missing == 0 and not errors else 1


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = [v * 1000 for v in values]
    return {
        "p50": round(statistics.median(ms), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


if __name__ == "__main__":
    sys.exit(main())
