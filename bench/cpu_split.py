"""Where the CPU of a Business API request goes: the app's workers or PostgreSQL.

    .venv/bin/python bench/cpu_split.py [--calls 1000000] [--seconds 8] [--rounds 2]
                                        [--connections 16]

Uses bench/run.py's database (`make bench` loads it; run that first; `--database` names
another) and its variants, serves the app as run.py does (as shipped: the database
throttle store, spent in each request's statement, the audit trail on) and, with
`--throttle-off`, a second server with API_THROTTLE=off, and runs wrk against each variant
of each server in turn. Around each run it reads the CPU time (user + system, /proc) of
that server's gunicorn processes and of the PostgreSQL backends connected to the
benchmark's database (not the rest of a shared machine), and prints requests/s and the CPU
milliseconds per request of each side. On one machine both sides share the cores: a
request's cost to throughput is the sum. CPU per request moves far less with a busy
machine's load than requests per second do.

WEB_CONCURRENCY and the other gunicorn settings are read from the environment, as by the
server itself.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess

from benchdb import ROOT
from run import (
    CPU_GROUPS,
    build_variants,
    cpu_seconds,
    free_port,
    make_keys,
    newest_call,
    request_token,
    server_env,
    start_server,
    wait_for,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", default=None)
    parser.add_argument("--throttle-off", action="store_true")
    args = parser.parse_args()
    database = args.database or f"bench13_calls_{args.calls}"
    keys = make_keys(database, ROOT)
    envs = {"": server_env(database)}
    if args.throttle_off:
        envs[" (throttle off)"] = {**server_env(database), "API_THROTTLE": "off"}
    servers = {}
    variants: dict[str, tuple[str, int]] = {}
    try:
        for suffix, env in envs.items():
            port = free_port()
            servers[suffix] = start_server(ROOT, env, port, "callportal.wsgi")
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/bench/django")
            served = build_variants(
                base, base, keys, request_token(base, keys["auth"]), newest_call(database)
            )
            del served["bare WSGI app"]  # not served here
            for name, url in served.items():
                variants[name + suffix] = (url, servers[suffix].pid)
        measured: dict[str, list[tuple[float, dict[str, float]]]] = {}
        for _ in range(args.rounds):
            for name, (url, pid) in variants.items():
                measured.setdefault(name, []).append(measure(url, args, pid, database))
    finally:
        for server in servers.values():
            server.send_signal(signal.SIGTERM)
        for server in servers.values():
            server.wait(timeout=30)
    print("| variant | requests/s | app ms/request | PostgreSQL ms/request | sum |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in measured.items():
        rate = statistics.median(r for r, _ in runs)
        app = statistics.median(c["app"] for _, c in runs)
        database_ms = statistics.median(c["PostgreSQL"] for _, c in runs)
        print(f"| {name} | {rate:.0f} | {app:.3f} | {database_ms:.3f} | {app + database_ms:.3f} |")


def measure(
    url: str, args: argparse.Namespace, server: int, database: str
) -> tuple[float, dict[str, float]]:
    before = cpu_seconds([server], database)
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    after = cpu_seconds([server], database)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = rate * args.seconds
    return rate, {g: (after[g] - before[g]) / requests * 1000 for g in CPU_GROUPS}


if __name__ == "__main__":
    main()
