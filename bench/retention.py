"""How fast retention purges calls with recordings, and what it does to GetCallURL meanwhile.

    .venv/bin/python bench/retention.py [--calls 1000000] [--young 20000] [--batch-size 500]
        [--clients 4] [--rate R] [--baseline-seconds 20] [--database callportal_retention_bench]

Recreates the PostgreSQL database given (it is dropped first!) and a throw-away media
folder, loads `--calls` calls that ended 400 days ago, each with a small recording file
on disk, and `--young` recent calls without recordings (COPY, indexes built afterwards).
Serves the app with gunicorn (gunicorn.conf.py, the production setup; throttling off;
retention runs off) on a free loopback port, then:

1. baseline: `--clients` keep-alive clients send GetCallURL by callID (a young call) for
   `--baseline-seconds`; p50/p99 of their latencies;
2. purge: `manage.py apply_retention` (RETENTION_DEFAULT_DAYS=30) deletes the old calls in
   batches while the same clients keep asking; the purge's wall time, calls/s, and the
   clients' p50/p99 during it. With `--in-server` the servers' own runs purge instead
   (RETENTION_SWEEP_MINUTES set: a worker starts a run when it boots, inside the gevent
   worker that also answers the clients), timed from the restart until the ledger is full;
3. baseline again after the purge (the two baselines bracket the purge on a machine
   whose load drifts: the p99 ratio is given against both);
4. checks that what is left is exactly the young calls, no recording file remains, the
   file queue is empty and the ledger holds one entry per deleted call.

The clients: by default each sends its next request as soon as the last is answered, so
that the machine is as busy as they can make it, and any work the purge adds slows them
(on 2 cores shared by server, clients, database and purge, that is a test of CPU shares).
`--rate R` sends R requests a second on a fixed schedule instead, each timed from when it
was due: an API under a steady load, below what the server can answer.

Prints the figures and writes them as JSON to bench/results/. Speed figures on a shared
machine drift: compare the two p99s of one run (the ratio), and give the load average.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchdb import ROOT, connect, django_env, recreate
from dataset import copy_rows

COLUMNS = (
    "id",
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "started_at",
    "ended_at",
    "direction",
    "native_id",
    "platform_call_id",
    "keep",
    "delete_when_ended",
    "recording",
    "recording_content_type",
    "recording_sha256",
    "created_at",
    "updated_at",
)
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28
SHA = "0" * 64
RATE = 0.0  # --rate


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


def load(database: str, media: Path, old: int, young: int, log=print) -> list[str]:  # type: ignore[no-untyped-def]
    """Load the calls and write the old calls' files; returns the young calls' ids."""
    now = datetime.now(UTC)
    young_ids = [str(uuid.uuid4()) for _ in range(young)]
    started = time.perf_counter()

    def lines():  # type: ignore[no-untyped-def]
        for n in range(old):
            call_id = uuid.uuid4()
            start = now - timedelta(days=400, seconds=n * 7)
            folder = f"recordings/bench/{n // 10_000:03d}"
            name = f"{folder}/{call_id}.wav"
            if n % 10_000 == 0:
                (media / folder).mkdir(parents=True, exist_ok=True)
            (media / name).write_bytes(AUDIO)
            yield (
                f"{call_id}\t+44207{n % 50_000:06d}\t\t{7000 + n % 1000}\t\t{stamp(start)}\t"
                f"{stamp(start + timedelta(minutes=3))}\tinbound\t\t\tf\tf\t{name}\t"
                f"audio/wav\t{SHA}\t{stamp(now)}\t{stamp(now)}\n"
            )
        for n, call_id in enumerate(young_ids):
            start = now - timedelta(minutes=1 + n)
            yield (
                f"{call_id}\t+44208{n:06d}\t\t{8000 + n % 1000}\t\t{stamp(start)}\t"
                f"{stamp(start + timedelta(seconds=30))}\tinbound\t\t\tf\tf\t\t\t\t"
                f"{stamp(now)}\t{stamp(now)}\n"
            )

    copy_rows(database, "calls_call", COLUMNS, lines())
    # Recordings deleted by retention have been on disk for months: their blocks are
    # written. Removing such a file waits on the filesystem's journal; removing one still in
    # the page cache does not, and would flatter the purge many times over.
    os.sync()
    log(f"loaded {old:,} old calls with files and {young:,} young calls in "
        f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    return young_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_key(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "Retention bench"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def clients(port: int, paths: list[str], threads: int, rate: float, stop, out) -> None:  # type: ignore[no-untyped-def]
    """Keep-alive clients until `stop` is set; puts (latencies in ms, failures) on `out`.

    `rate` 0: each client sends its next request when the last is answered (closed loop:
    together they keep the server as busy as it can be). Else the clients send `rate`
    requests a second between them on a fixed schedule, each timed from when it was due,
    so that a request delayed behind a slow one counts its wait (open loop)."""
    import threading

    latencies: list[float] = []
    failures = [0]

    def loop(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        interval = threads / rate if rate else 0.0
        due = time.perf_counter() + rng.random() * interval
        while not stop.is_set():
            path = rng.choice(paths)
            if rate:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                begun, due = due, due + interval
            else:
                begun = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
            except OSError:
                failures[0] += 1
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies.append((time.perf_counter() - begun) * 1000)
            if response.status != 200 or not body.startswith(b"http"):
                failures[0] += 1
        connection.close()

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, failures[0]))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def summary(latencies: list[float], failures: int, seconds: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "failures": failures,
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else float("nan"),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2) if latencies else float("nan"),
    }


def under_load(port: int, paths: list[str], threads: int, work) -> tuple[dict, float]:  # type: ignore[no-untyped-def]
    """Run `work()` while the clients ask; returns the clients' figures and work's seconds."""
    stop = multiprocessing.Event()
    out: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=clients, args=(port, paths, threads, RATE, stop, out))
    process.start()
    started = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
    latencies, failures = out.get()
    process.join()
    return summary(latencies, failures, elapsed), elapsed


@contextmanager
def serving(env: dict[str, str], port: int, probe: str) -> Iterator[None]:
    """gunicorn with the production configuration on `port`, up until the block ends."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "callportal.wsgi"],
        cwd=ROOT,
        env={**env, "BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", probe)
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("gunicorn did not start")
                time.sleep(0.3)
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def wait_for_ledger(database: str, count: int, timeout: float = 7200) -> None:
    """Until the ledger holds `count` entries (the servers' run is done)."""
    deadline = time.monotonic() + timeout
    with connect(database) as db:
        db.autocommit = True
        with db.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM retention_deletionentry")
                if cur.fetchone()[0] >= count:
                    return
                time.sleep(0.5)
    sys.exit("the servers' retention run did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--young", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--database", default="callportal_retention_bench")
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="requests/s the clients send between them on a schedule (default: each sends "
        "its next as soon as the last is answered)",
    )  # fmt: skip
    parser.add_argument(
        "--in-server", action="store_true", help="purge by the servers' own runs, not the command"
    )
    args = parser.parse_args()
    global RATE
    RATE = args.rate

    media = Path(tempfile.mkdtemp(prefix="retention-bench-media-"))
    recreate(args.database)
    young_ids = load(args.database, media, args.calls, args.young)
    env = {
        **django_env(args.database),
        "MEDIA_ROOT": str(media),
        "API_THROTTLE": "off",
        "RETENTION_SWEEP_MINUTES": "0",
        "DELETION_SWEEP_SECONDS": "0",
        "RETENTION_DEFAULT_DAYS": "30",
    }
    key = create_key(env)
    paths = [
        f"/verba/api?action=GetCallURL&responseType=TEXT&apiKey={key}&callID={call_id}"
        for call_id in young_ids[:2000]
    ]
    port = free_port()
    load_before = os.getloadavg()
    with serving(env, port, paths[0]):
        baseline, _ = under_load(
            port, paths, args.clients, lambda: time.sleep(args.baseline_seconds)
        )
    print(f"baseline  GetCallURL: {baseline}")

    if args.in_server:
        # A worker's first run starts as it boots: timed from the start of the servers.
        started = time.perf_counter()
        with serving({**env, "RETENTION_SWEEP_MINUTES": "60"}, port, paths[0]):
            during, _ = under_load(
                port, paths, args.clients, lambda: wait_for_ledger(args.database, args.calls)
            )
            seconds = time.perf_counter() - started
    else:
        with serving(env, port, paths[0]):

            def purge() -> None:
                subprocess.run(
                    [sys.executable, "manage.py", "apply_retention", "--batch-size",
                     str(args.batch_size)],
                    cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip

            during, seconds = under_load(port, paths, args.clients, purge)
    load_after = os.getloadavg()
    print(f"purge     GetCallURL: {during}")
    with serving(env, port, paths[0]):
        baseline_after, _ = under_load(
            port, paths, args.clients, lambda: time.sleep(args.baseline_seconds)
        )
    print(f"baseline after GetCallURL: {baseline_after}")

    with connect(args.database) as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM calls_call")
        left = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM retention_deletionentry")
        ledger = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM retention_pendingfiledeletion")
        queued = cur.fetchone()[0]
    files = sum(1 for p in media.rglob("*") if p.is_file())
    shutil.rmtree(media, ignore_errors=True)
    result = {
        "calls": args.calls,
        "young": args.young,
        "batch_size": args.batch_size,
        "clients": args.clients,
        "rate": args.rate or "closed loop",
        "purged_by": "the servers' own runs" if args.in_server else "manage.py apply_retention",
        "purge_seconds": round(seconds, 1),
        "purged_per_second": round(args.calls / seconds, 1),
        "extrapolated_1m_seconds": round(1_000_000 / (args.calls / seconds)),
        "getcallurl_baseline": baseline,
        "getcallurl_during_purge": during,
        "getcallurl_baseline_after": baseline_after,
        "p99_ratio": round(during["p99_ms"] / baseline["p99_ms"], 2),
        "p99_ratio_to_baseline_after": round(during["p99_ms"] / baseline_after["p99_ms"], 2),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "cpus": os.cpu_count(),
        "left": {"calls": left, "files": files, "queued_files": queued, "ledger": ledger},
        "correct": left == args.young and files == 0 and queued == 0 and ledger == args.calls,
    }
    print(json.dumps(result, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-retention-{args.calls}.json"
    (results / name).write_text(json.dumps(result, indent=2) + "\n")
    if not result["correct"]:
        sys.exit("the purge left calls, files or queue entries behind")


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    main()
