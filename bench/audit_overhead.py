"""What writing the audit trail costs the Business API, in requests per second.

    .venv/bin/python bench/audit_overhead.py [--seconds 8] [--rounds 3] [--clients 8]
                                             [--database callportal_admin_audit_bench]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, makes one API
key and one call, then serves the app with gunicorn on 127.0.0.1 (gunicorn.conf.py, the
production setup; throttling off) in three modes, one after another, `--rounds` times:

- off: no audit row and no last_used_at update (the baseline);
- buffered: the shipped writer (rows batched in process, written every second);
- sync: AUDIT_FLUSH_SECONDS=0, one INSERT per request (what buffering saves).

Each run sends GetCallURL by callID for `--seconds` from `--clients` keep-alive client
threads (split over two processes) on loopback, then stops gunicorn gracefully and checks
that the trail holds exactly one row per request answered (the buffered writer flushes at
exit). Prints requests/s per run and the median overhead of each mode against "off".
Nothing leaves the machine.
"""

import argparse
import http.client
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchdb import ROOT, recreate, setup_django

PORT = 8197
MODES = ("off", "buffered", "sync")


# --- the served app (gunicorn imports this module and calls make_app()) ------------------


def make_app():  # type: ignore[no-untyped-def]
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    if os.environ.get("BENCH_AUDIT") == "off":
        import verba.auth
        import verba.views

        # Neither the audit row nor the key's and session's last_used_at.
        verba.views.record_api_request = lambda **kwargs: None
        verba.views.touch_session = lambda *args, **kwargs: None
        verba.auth.touch_api_key = lambda *args, **kwargs: None
    return application


# --- set-up -----------------------------------------------------------------------------


def prepare(database: str) -> tuple[str, str]:
    recreate(database)
    setup_django(database)
    from django.db import connections

    from apikeys.services import create_api_key
    from calls.tests.factories import CallFactory

    _, plaintext = create_api_key("Audit bench")
    call = CallFactory(called_number="8856")
    connections.close_all()
    return plaintext, str(call.pk)


def audit_rows() -> int:
    from django.db import connections

    from audit.models import ApiRequest

    count = ApiRequest.objects.count()
    connections.close_all()
    return count


# --- load -------------------------------------------------------------------------------


def _client_process(path: str, threads: int, seconds: float, queue) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    counts = [0] * threads
    failures = [0] * threads

    def loop(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        while time.monotonic() < deadline:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status == 200 and body.startswith(b"http"):
                counts[i] += 1
            else:
                failures[i] += 1
        connection.close()

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((sum(counts), sum(failures)))


def run(mode: str, path: str, seconds: float, clients: int) -> tuple[float, int, int]:
    env = {
        **os.environ,
        "API_THROTTLE": "off",
        "BENCH_AUDIT": mode,
        "AUDIT_FLUSH_SECONDS": "0" if mode == "sync" else "1",
        "DJANGO_SETTINGS_MODULE": "callportal.settings",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            # The production configuration (gevent workers, the connection pool).
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--graceful-timeout",
            "10",
            "audit_overhead:make_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(path)
        # Let the warm-up's audit rows reach the table before counting.
        time.sleep(2.5)
        before = audit_rows()
        cpu_before = _workers_cpu(server.pid)
        queue: multiprocessing.Queue = multiprocessing.Queue()
        per_process = max(clients // 2, 1)
        procs = [
            multiprocessing.Process(
                target=_client_process, args=(path, per_process, seconds, queue)
            )
            for _ in range(2)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        elapsed = time.perf_counter() - started
        for p in procs:
            p.join()
        cpu = _workers_cpu(server.pid) - cpu_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    written = audit_rows() - before
    return ok / elapsed, ok + failed, written, cpu * 1000 / max(ok, 1)


def _workers_cpu(pid: int) -> float:
    """CPU seconds (user + system) the gunicorn workers have used so far.

    Unlike requests per second, this hardly moves when other work shares the machine.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for child in children:
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _wait_until_up(path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database", default="callportal_admin_audit_bench")
    args = parser.parse_args()
    key, call_id = prepare(args.database)
    path = f"/verba/api?action=GetCallURL&responseType=TEXT&apiKey={key}&callID={call_id}"
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    costs: dict[str, list[float]] = {mode: [] for mode in MODES}
    print(
        f"{'round':>5} {'mode':>9} {'req/s':>8} {'CPU ms/req':>11} {'requests':>9} "
        f"{'audit rows':>11}"
    )
    for round_number in range(1, args.rounds + 1):
        for mode in MODES:
            rate, sent, written, cpu_ms = run(mode, path, args.seconds, args.clients)
            rates[mode].append(rate)
            costs[mode].append(cpu_ms)
            print(f"{round_number:5d} {mode:>9} {rate:8.0f} {cpu_ms:11.2f} {sent:9d} {written:11d}")
            expected = 0 if mode == "off" else sent
            if written != expected:
                print(f"      !! expected {expected} audit rows, found {written}")
    baseline = statistics.median(rates["off"])
    cpu_baseline = statistics.median(costs["off"])
    print()
    for mode in MODES:
        rate, cpu_ms = statistics.median(rates[mode]), statistics.median(costs[mode])
        print(
            f"{mode:>9}: median {rate:.0f} req/s ({rate / baseline - 1:+.1%}), "
            f"{cpu_ms:.2f} app CPU ms per request ({cpu_ms / cpu_baseline - 1:+.1%})"
        )


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    main()
