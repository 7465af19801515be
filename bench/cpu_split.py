"""Where the CPU of a Business API request goes: the app's workers or PostgreSQL.

    .venv/bin/python bench/cpu_split.py [--calls 1000000] [--seconds 8] [--rounds 2]
                                        [--connections 16]

Uses bench/run.py's database (`make bench` loads it; run that first) and its variants,
serves the app as run.py does (gunicorn.conf.py, throttling off), and runs wrk against each
variant in turn. Around each run it reads the CPU time (user + system, /proc) of the
gunicorn processes and of every PostgreSQL process, and prints requests/s and the CPU
milliseconds per request of each side. On one machine both sides share the cores: a
request's cost to throughput is the sum.

WEB_CONCURRENCY and the other gunicorn settings are read from the environment, as by the
server itself.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
from pathlib import Path

from benchdb import ROOT
from run import (
    build_variants,
    free_port,
    make_keys,
    newest_call,
    request_token,
    server_env,
    start_server,
    wait_for,
)

TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = {
    "app": lambda command: "gunicorn" in command,
    "PostgreSQL": lambda command: command.startswith("postgres"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    database = f"bench13_calls_{args.calls}"
    keys = make_keys(database, ROOT)
    port, bare_port = free_port(), free_port()
    server = start_server(ROOT, server_env(database), port, "callportal.wsgi")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/bench/django")
        variants = build_variants(
            base,
            f"http://127.0.0.1:{bare_port}",
            keys,
            request_token(base, keys["auth"]),
            newest_call(database),
        )
        del variants["bare WSGI app"]  # not served here
        measured: dict[str, list[tuple[float, dict[str, float]]]] = {}
        for _ in range(args.rounds):
            for name, url in variants.items():
                measured.setdefault(name, []).append(measure(url, args))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print("| variant | requests/s | app ms/request | PostgreSQL ms/request | sum |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in measured.items():
        rate = statistics.median(r for r, _ in runs)
        app = statistics.median(c["app"] for _, c in runs)
        database_ms = statistics.median(c["PostgreSQL"] for _, c in runs)
        print(f"| {name} | {rate:.0f} | {app:.3f} | {database_ms:.3f} | {app + database_ms:.3f} |")


def measure(url: str, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    before = cpu_seconds()
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    after = cpu_seconds()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = rate * args.seconds
    return rate, {g: (after[g] - before[g]) / requests * 1000 for g in GROUPS}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of each group's processes (processes that ended are not counted:
    the server's live for the whole run, PostgreSQL's backends for their connections')."""
    totals = dict.fromkeys(GROUPS, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        for group, matches in GROUPS.items():
            if matches(command):
                totals[group] += (int(fields[11]) + int(fields[12])) / TICKS
    return totals


if __name__ == "__main__":
    main()
