"""The whole benchmark in one command: data, production server, load, report.

    make bench                      # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py [--calls 10000000] [--rounds 5] [--seconds 5]
                                  [--connections 16] [--audit-rows N] [--app-dir DIR]
                                  [--label NAME] [--no-docs] [--throttle RATE]
                                  [--search-rows N] [--export-rows N] [--api-only]

1. Makes the PostgreSQL database `bench13_calls_<calls>` (created and migrated when
   missing; the schema is migrated on every run) hold `--calls` generated calls with hot
   extensions (bench/dataset.py, loaded with COPY; 10 M take several minutes once, later
   runs reuse them) and `--audit-rows` audit rows (default: as many as calls).
2. Starts the production server as shipped — gunicorn with gunicorn.conf.py, the audit
   trail on (buffered, as by default), throttling on with the default store
   (API_THROTTLE_STORE=database: a key's requests spend from its bucket, a lease of 1 %
   of the rate, at most 100, at a time per worker process) at a rate no
   run reaches (`--throttle`, default 1000000000/min; the shipped 600/min would refuse
   nearly every request of a benchmark) — and, beside it, a bare WSGI application under
   the same gunicorn configuration.
3. Measures with `wrk` (Debian package `wrk`), interleaved: in each round every variant
   runs once for `--seconds`, so that the load of a shared machine drifts over all of them
   alike; the report gives each variant's median over the rounds. Variants: the bare WSGI
   app, a bare Django view, the Business API's no-database answer (responseType=NOPE),
   and GetCallURL by callID, by extension with status=last and status=ongoing,last, each
   without a token, with the token of a user who sees every call (access `all`: no scope,
   as every token before the directory) and with the token of an agent who sees only her
   own calls (access `own`, owning the hot extension: the scoped path, issue 20; its time
   per request is reported against the `all` token's). Then each API variant once more at
   half its maximum rate (wrk's delay hook), for p50/p99 under a moderate load. Beside
   each run, the CPU time per request of the servers' processes and of PostgreSQL's
   (/proc): where a variant's time goes, since wrk and both share the machine's cores.
4. Runs bench/probe.py with the server's code: queries per request, the database time of
   every lookup (EXPLAIN ANALYZE), and the other read paths at this size.
5. Measures SearchCalls (bench/search_calls.py: every shape, every `orderby` of a hot
   number's month) on its own database, `--search-rows` calls at 27,400 a day (loaded
   when missing; 2 M, the default for fewer than 2 M calls, has the month of 10 M), and the
   admin's CSV export (bench/admin_export.py: `--export-rows` of this database's newest
   calls, as shipped and the resource's way, interleaved, the same bytes checked);
   `--api-only` leaves both out (the Business API's figures alone, in minutes).
6. Writes bench/results/<time>-<label>.json and, unless --no-docs, the table in
   docs/performance.md (between its bench markers): one table of every goal, met or
   missed, with the ratios of the interleaved run and the settings it ran with.

`--app-dir` measures another checkout of the project (e.g. an export of an older commit,
for a before/after comparison) against the same data with this harness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

from benchdb import ROOT, SECRET_KEY, SERVER, connect, pg_url
from dataset import HOT, OLD_NUMBER, WARM, CallShape, ensure_calls, load_audit_rows

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PASSWORD = "bench-pw-5d1e0c7a"  # noqa: S105 - a throw-away user of the benchmark database
AGENT = "bench-agent"

# The goals, checked against every lookup variant.
GOAL_VS_NOPE = 0.50
GOAL_VS_DJANGO = 0.35
GOAL_P99_MS = 20.0
GOAL_QUERIES = 2
GOAL_DB_MS = 1.0
# A scoped token's GetCallURL against an unscoped token's, in time per request (issue 20).
GOAL_SCOPED_VS_UNSCOPED = 1.2
SCOPED = " + token, own scope"
GOAL_EXPORT_ROWS_PER_S = 1_000_000 / 60
# As shipped but at a rate no benchmark reaches: each request spends from its bucket.
THROTTLE = "1000000000/min"
SHIPPED_THROTTLE = THROTTLE
CALLS_PER_DAY = 27_400


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--audit-rows", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", default=None)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--label", default="current")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--throttle", default=THROTTLE)
    parser.add_argument("--search-rows", type=int, default=None)
    parser.add_argument("--export-rows", type=int, default=200_000)
    parser.add_argument("--api-only", action="store_true", help="no SearchCalls, no export")
    args = parser.parse_args()
    global SHIPPED_THROTTLE
    SHIPPED_THROTTLE = args.throttle
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    database = args.database or f"bench13_calls_{args.calls}"
    audit_rows = args.calls if args.audit_rows is None else args.audit_rows
    app_dir = args.app_dir.resolve()

    prepare_database(database, app_dir)
    shape = ensure_calls(database, CallShape(rows=args.calls))
    keys = make_keys(database, app_dir)
    if audit_rows:
        ensure_audit(database, audit_rows, app_dir)
    call_id = newest_call(database)
    # The scoped token's call is one of the agent's (on the hot extension she owns).
    agent_call_id = newest_call(database, number=HOT)

    env = server_env(database)
    django_port, bare_port = free_port(), free_port()
    servers = [
        start_server(app_dir, env, django_port, "callportal.wsgi"),
        start_server(app_dir, env, bare_port, "bench_wsgi:application"),
    ]
    try:
        django_base = f"http://127.0.0.1:{django_port}"
        wait_for(django_base + "/bench/django")
        wait_for(f"http://127.0.0.1:{bare_port}/")
        tokens = {
            "all": request_token(django_base, keys["auth"]),
            "own": request_token(django_base, keys["auth"], user=AGENT),
        }
        variants = build_variants(
            django_base, f"http://127.0.0.1:{bare_port}", keys, tokens, call_id, agent_call_id
        )
        check_answers(variants)
        runs = measure(variants, args, [server.pid for server in servers], database)
        half = measure_half_rate(variants, runs, args)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    probe = run_probe(app_dir, database, variants, audit_key_id(database))
    if args.api_only:
        search, export = {"skipped": True}, {"skipped": True}
    else:
        search = run_search(app_dir, args.search_rows or max(args.calls, 2_000_000))
        export = run_export(database, min(args.export_rows, args.calls))
    result = {
        "label": args.label,
        "app_commit": git_commit(app_dir),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "calls": args.calls,
        "audit_rows": audit_rows,
        "dataset": shape.__dict__,
        "wrk": {"connections": args.connections, "seconds": args.seconds, "rounds": args.rounds},
        "variants": summarize(runs, half, probe),
        "read_paths": probe["read_paths"],
        "lookup_db_ms": probe["lookup_db_ms"],
        "settings": shipped_settings(),
        "search_calls": search,
        "export": export,
    }
    result["goals_missed"] = goals_missed(result)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{stamp}-{args.label}-{args.calls}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    table = render(result)
    print(table)
    if not args.no_docs:
        write_doc(table)


# --- data ----------------------------------------------------------------------------------


def prepare_database(database: str, app_dir: Path) -> None:
    admin = connect("postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=app_dir,
        env=server_env(database),
        check=True,
    )


def manage_shell(database: str, app_dir: Path, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=app_dir,
        env=server_env(database),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def make_keys(database: str, app_dir: Path) -> dict[str, str]:
    """Fresh keys for this run (plaintexts are shown once), and two users allowed to view
    calls: `bench`, who sees every call (access `all`), and the agent `bench-agent`, who sees
    her own (access `own`, owning the hot extension for all time)."""
    code = "\n".join(
        [
            "from django.contrib.auth import get_user_model",
            "from django.contrib.auth.models import Permission",
            "from apikeys.services import create_api_key",
            "from directory.models import Extension, Profile",
            "_, plain = create_api_key('Bench')",
            "_, auth = create_api_key('Bench with token', requires_auth=True)",
            "User = get_user_model()",
            "view = Permission.objects.get(codename='view_call')",
            f"for name, access in (('bench', 'all'), ('{AGENT}', 'own')):",
            "    u = User.objects.filter(username=name).first() or User(username=name)",
            f"    u.set_password('{PASSWORD}'); u.save()",
            "    u.user_permissions.add(view)",
            "    Profile.objects.update_or_create(user=u, defaults={'access': access})",
            f"    if access == 'own' and not Extension.objects.filter(number='{HOT}').exists():",
            f"        Extension.objects.create(user=u, number='{HOT}')",
            "print(plain, auth)",
        ]
    )
    plain, auth = manage_shell(database, app_dir, code).split()
    return {"plain": plain, "auth": auth}


def ensure_audit(database: str, rows: int, app_dir: Path) -> None:
    """`rows` audit rows over 60 days for five keys, the first of them busy (70 %)."""
    connection = connect(database)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_apirequest'")
            present = cur.fetchone()[0]
    finally:
        connection.close()
    if abs(present - rows) <= rows * 0.05 and audit_key_id(database):
        print(f"reusing about {present:,} audit rows")
        return
    code = (
        "from apikeys.services import create_api_key; "
        "print(' '.join(str(create_api_key(f'Bench audit {i}')[0].pk) for i in range(5)))"
    )
    key_ids = [int(k) for k in manage_shell(database, app_dir, code).split()]
    print(f"loading {rows:,} audit rows with COPY …")
    load_audit_rows(database, rows, key_ids)


def audit_key_id(database: str) -> int | None:
    connection = connect(database)
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id FROM apikeys_apikey WHERE name = 'Bench audit 0' "
                "ORDER BY id DESC LIMIT 1"
            )
            row = cur.fetchone()
    finally:
        connection.close()
    return row[0] if row else None


def newest_call(database: str, number: str | None = None) -> str:
    """The newest call, or the newest one called from or to `number`."""
    connection = connect(database)
    try:
        with connection.cursor() as cur:
            if number is None:
                cur.execute("SELECT id FROM calls_call ORDER BY started_at DESC LIMIT 1")
            else:
                cur.execute(
                    "SELECT id FROM calls_call WHERE caller_number = %s OR called_number = %s"
                    " ORDER BY started_at DESC LIMIT 1",
                    [number, number],
                )
            return str(cur.fetchone()[0])
    finally:
        connection.close()


# --- servers -------------------------------------------------------------------------------


def server_env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": pg_url(database, SERVER),
        "SECRET_KEY": os.environ.get("SECRET_KEY", SECRET_KEY),
        "API_THROTTLE": SHIPPED_THROTTLE,
        "API_THROTTLE_STORE": "database",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": str(BENCH),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app_dir: Path, env: dict[str, str], port: int, app: str) -> subprocess.Popen:
    # The production command (`make serve`), with the access log going nowhere.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--pythonpath",
            str(BENCH),
            app,
        ],
        cwd=app_dir,
        env={**env, "BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.read().decode()


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            fetch(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"the server did not answer {url}")
            time.sleep(0.3)


def request_token(base: str, key: str, user: str = "bench") -> str:
    query = urllib.parse.urlencode(
        {
            "action": "RequestToken",
            "apiKey": key,
            "userName": user,
            "password": PASSWORD,
            "responseType": "TEXT",
        }
    )
    return fetch(f"{base}/verba/api?{query}").strip()


def build_variants(
    base: str,
    bare: str,
    keys: dict[str, str],
    tokens: dict[str, str],
    call_id: str,
    agent_call_id: str,
) -> dict[str, str]:
    def api(key: str, **params: str) -> str:
        query = urllib.parse.urlencode({"action": "GetCallURL", "apiKey": key, **params})
        return f"{base}/verba/api?{query}"

    variants = {
        "bare WSGI app": f"{bare}/",
        "bare Django view": f"{base}/bench/django",
        "no-database answer (NOPE)": api(keys["plain"], responseType="NOPE"),
    }
    lookups = {
        "callID": {"callID": call_id},
        f"extension {HOT} last": {"extension": HOT, "status": "last"},
        f"extension {HOT} ongoing,last": {"extension": HOT, "status": "ongoing,last"},
    }
    for name, params in lookups.items():
        variants[name] = api(keys["plain"], **params)
        variants[f"{name} + token"] = api(keys["auth"], token=tokens["all"], **params)
        mine = {"callID": agent_call_id} if "callID" in params else params
        variants[f"{name}{SCOPED}"] = api(keys["auth"], token=tokens["own"], **mine)
    return variants


def unscoped_of(name: str) -> str:
    """The variant a scoped token's variant is compared with: the same lookup with the
    token of a user who sees every call."""
    return name.removesuffix(SCOPED) + " + token"


def is_lookup(name: str) -> bool:
    return name.startswith(("callID", "extension"))


def check_answers(variants: dict[str, str]) -> None:
    for name, url in variants.items():
        body = fetch(url)
        wanted = "gwtCallDetail.do?ccdrId=" if is_lookup(name) else None
        if name.startswith("no-database"):
            wanted = 'code="1"'
        if wanted and wanted not in body:
            sys.exit(f"{name}: unexpected answer {body[:300]!r}")


# --- load ----------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: float, connections: int, script: str | None = None) -> dict:
    command = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
    ]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        percentiles[pct] = round(float(value) * _UNITS[unit], 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rate,
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def measure(
    variants: dict[str, str], args: argparse.Namespace, servers: list[int], database: str
) -> dict[str, list[dict]]:
    """wrk's figures for each variant and round, and the CPU time the servers' processes and
    the database's backends spent per request meanwhile (where a variant's time goes)."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for url in variants.values():  # warm every worker and connection once
        wrk(url, 1, args.connections)
    for round_no in range(1, args.rounds + 1):
        for name, url in variants.items():
            before = cpu_seconds(servers, database)
            result = wrk(url, args.seconds, args.connections)
            after = cpu_seconds(servers, database)
            served = max(1.0, result["rps"] * max(1, round(args.seconds)))
            for group in CPU_GROUPS:
                spent = (after[group] - before[group]) / served
                result[f"{group.lower()}_cpu_us"] = round(spent * 1e6)
            runs[name].append(result)
        line = ", ".join(f"{n}: {r[-1]['rps']:.0f}" for n, r in runs.items())
        print(f"round {round_no}/{args.rounds}: {line}", flush=True)
    return runs


# CPU time per request: where a variant's time goes (bench/cpu_split.py uses it too).
TICKS = os.sysconf("SC_CLK_TCK")
CPU_GROUPS = ("app", "PostgreSQL")


def cpu_seconds(servers: Collection[int], database: str) -> dict[str, float]:
    """CPU seconds so far of the servers' processes (each master and its workers) and of
    the PostgreSQL backends on `database`, in one reading of /proc (processes that ended
    are not counted: the servers' live for the whole run, the backends for their pooled
    connections')."""
    totals = dict.fromkeys(CPU_GROUPS, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid, parent = int(entry.name), int(fields[1])
        spent = (int(fields[11]) + int(fields[12])) / TICKS
        if pid in servers or parent in servers:
            totals["app"] += spent
        elif command.startswith("postgres") and f" {database} " in command:
            totals["PostgreSQL"] += spent
    return totals


def measure_half_rate(
    variants: dict[str, str], runs: dict[str, list[dict]], args: argparse.Namespace
) -> dict[str, dict]:
    """Each Business API variant at half its median maximum rate: wrk's `delay` hook holds
    every connection to a fixed pace."""
    connections = 8
    half: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in variants.items():
            if not is_lookup(name) and not name.startswith("no-database"):
                continue
            target = statistics.median(r["rps"] for r in runs[name]) / 2
            pause_ms = max(1, round(connections * 1000 / target))
            script = Path(tmp) / f"pace{pause_ms}.lua"
            script.write_text(f"function delay()\n  return {pause_ms}\nend\n")
            result = wrk(url, max(args.seconds, 5), connections, str(script))
            result["target_rps"] = round(target)
            half[name] = result
    return half


# --- in-process probe ----------------------------------------------------------------------


def run_probe(
    app_dir: Path, database: str, variants: dict[str, str], audit_key: int | None
) -> dict:
    urls = {
        name: url.split("/", 3)[3].join(("/", ""))
        for name, url in variants.items()
        if "/verba/api" in url or "/bench/django" in url
    }
    job = {
        "urls": urls,
        "explain": [name for name in urls if is_lookup(name)],
        "numbers": {
            f"hot extension {HOT} (4 % of calls)": HOT,
            f"warm extension {WARM} (1 %)": WARM,
            "a number with only old calls": OLD_NUMBER,
        },
        "audit_key_id": audit_key,
        "export_rows": [],  # the admin export is not streamed yet: see docs/performance.md
    }
    done = subprocess.run(
        [sys.executable, str(BENCH / "probe.py")],
        cwd=app_dir,
        env={**server_env(database), "PYTHONPATH": f"{app_dir}:{BENCH}"},
        input=json.dumps(job),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def shipped_settings() -> dict[str, str]:
    """The settings the server ran with that decide what a request costs."""
    env = server_env("-")
    return {
        "API_THROTTLE": env["API_THROTTLE"],
        "API_THROTTLE_STORE": env["API_THROTTLE_STORE"],
        "audit trail": "on, buffered (AUDIT_FLUSH_SECONDS="
        + env.get("AUDIT_FLUSH_SECONDS", "1 (default)")
        + ")",
        "DB_PREPARED_STATEMENTS": env.get("DB_PREPARED_STATEMENTS", "on (default)"),
    }


def run_search(app_dir: Path, rows: int) -> dict:
    """bench/search_calls.py on its own database of `rows` calls, 27,400 a day (loaded
    when missing), every shape; its figures."""
    database = f"bench24_search_{rows}"
    days = max(40.0, rows / CALLS_PER_DAY)
    admin = connect("postgres")
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            present = cur.fetchone() is not None
    finally:
        admin.close()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "search.json"
        command = [sys.executable, str(BENCH / "search_calls.py"), "--database", database]
        command += ["--rows", str(rows), "--days", str(days), "--json", str(out)]
        if present:
            command.append("--reuse")
        done = subprocess.run(
            command, cwd=app_dir, env={**os.environ}, capture_output=True, text=True
        )
        if done.returncode:
            return {"failed": done.stderr[-2000:]}
        figures = json.loads(out.read_text())
    figures["database"] = database
    figures["days"] = days
    return figures


def run_export(database: str, rows: int) -> dict:
    """bench/admin_export.py: the newest `rows` calls, both ways, interleaved."""
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "admin_export.py"),
            "--database",
            database,
            "--rows",
            str(rows),
            "--rounds",
            "1",
        ],
        cwd=BENCH,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return {"failed": done.stderr[-2000:]}
    return json.loads(done.stdout[done.stdout.index("{") :])


# --- report --------------------------------------------------------------------------------


def summarize(runs: dict, half: dict, probe: dict) -> dict:
    medians = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    nope = medians["no-database answer (NOPE)"]
    django = medians["bare Django view"]
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "rps_median": round(medians[name]),
            "rps_runs": [round(r["rps"]) for r in rs],
            "vs_nope": round(medians[name] / nope, 2),
            "vs_django": round(medians[name] / django, 2),
            "p50_ms_max_load": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms_max_load": statistics.median(r["p99_ms"] for r in rs),
            "app_cpu_us": statistics.median(r["app_cpu_us"] for r in rs),
            "postgresql_cpu_us": statistics.median(r["postgresql_cpu_us"] for r in rs),
            "half_rate": half.get(name),
            "queries": probe["queries"].get(name),
        }
        if name.endswith(SCOPED):
            # Time per request against the unscoped token's: the inverse of the rates.
            out[name]["vs_unscoped_token"] = round(medians[unscoped_of(name)] / medians[name], 2)
    return out


def goals_missed(result: dict) -> list[str]:
    missed = []
    for name, v in result["variants"].items():
        if not is_lookup(name):
            continue
        if v["vs_nope"] < GOAL_VS_NOPE:
            missed.append(
                f"{name}: {v['vs_nope']} × the no-database answer (goal ≥ {GOAL_VS_NOPE})"
            )
        if v["vs_django"] < GOAL_VS_DJANGO:
            missed.append(
                f"{name}: {v['vs_django']} × a bare Django view (goal ≥ {GOAL_VS_DJANGO})"
            )
        p99 = (v["half_rate"] or {}).get("p99_ms")
        if p99 is not None and p99 > GOAL_P99_MS:
            missed.append(f"{name}: p99 {p99} ms at half the maximum rate (goal ≤ {GOAL_P99_MS})")
        if v["queries"] is not None and v["queries"] > GOAL_QUERIES:
            missed.append(f"{name}: {v['queries']} queries per request (goal ≤ {GOAL_QUERIES})")
        scoped = v.get("vs_unscoped_token")
        if scoped is not None and scoped > GOAL_SCOPED_VS_UNSCOPED:
            missed.append(
                f"{name}: {scoped} × the time of an unscoped token's "
                f"(goal ≤ {GOAL_SCOPED_VS_UNSCOPED})"
            )
    for name, info in result["lookup_db_ms"].items():
        for select in info["selects"]:
            if select["table"] == "calls_call" and select["execution_ms"] > GOAL_DB_MS:
                missed.append(
                    f"{name}: lookup {select['execution_ms']} ms in the database "
                    f"(goal ≤ {GOAL_DB_MS})"
                )
    for name, case in result["search_calls"].get("cases", {}).items():
        if case["db_ms"] > case["goal_ms"]:
            missed.append(
                f"SearchCalls {name}: {case['db_ms']} ms in the database "
                f"(goal ≤ {case['goal_ms']:.0f})"
            )
    if "failed" in result["search_calls"]:
        missed.append("SearchCalls: the measurement failed")
    shipped = result["export"].get("as shipped")
    if result["export"].get("skipped"):
        pass
    elif shipped is None:
        missed.append("admin CSV export: the measurement failed")
    else:
        if shipped["rows_per_s"] < GOAL_EXPORT_ROWS_PER_S:
            missed.append(
                f"admin CSV export: {shipped['rows_per_s']:,} rows/s, 1 M rows in "
                f"{1_000_000 / shipped['rows_per_s']:.0f} s (goal ≤ 60 s)"
            )
        if not result["export"]["same bytes"]:
            missed.append("admin CSV export: not the same bytes as import-export's")
    for name, info in result["read_paths"].items():
        if isinstance(info, dict) and "failed" in info:
            missed.append(f"{name}: failed ({info['failed'][:80]})")
        if not isinstance(info, dict) or "db_ms" not in info:
            continue
        limit = 20.0 if ("search" in name or "ingestion" in name) else 100.0
        if info["db_ms"] > limit:
            missed.append(f"{name}: {info['db_ms']} ms in the database (goal ≤ {limit:.0f})")
    return missed


def machine() -> dict:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    connection = connect("postgres")
    try:
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            pg = cur.fetchone()[0]
    finally:
        connection.close()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "postgresql": pg,
        "os": platform.platform(),
    }


def git_commit(app_dir: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=app_dir, capture_output=True, text=True
    )
    return done.stdout.strip() or "(not a git checkout)"


def goal_rows(result: dict) -> list[tuple[str, str, str, bool]]:
    """(what, measured, target, met) for every goal of issues 13 and 24."""
    rows: list[tuple[str, str, str, bool]] = []
    for name, v in result["variants"].items():
        if not is_lookup(name):
            continue
        rows.append(
            (
                f"GetCallURL {name}: × NOPE",
                f"{v['vs_nope']}",
                "≥ 0.50",
                v["vs_nope"] >= GOAL_VS_NOPE,
            )
        )
        rows.append(
            (
                f"GetCallURL {name}: × Django",
                f"{v['vs_django']}",
                "≥ 0.35",
                v["vs_django"] >= GOAL_VS_DJANGO,
            )
        )
        p99 = (v["half_rate"] or {}).get("p99_ms")
        if p99 is not None:
            rows.append(
                (f"GetCallURL {name}: p99 at half rate", f"{p99} ms", "≤ 20 ms", p99 <= GOAL_P99_MS)
            )
        if v["queries"] is not None:
            rows.append(
                (f"GetCallURL {name}: statements", f"{v['queries']}", "1", v["queries"] <= 1)
            )
        scoped = v.get("vs_unscoped_token")
        if scoped is not None:
            rows.append(
                (
                    f"GetCallURL {name}: time × an unscoped token's",
                    f"{scoped}",
                    f"≤ {GOAL_SCOPED_VS_UNSCOPED}",
                    scoped <= GOAL_SCOPED_VS_UNSCOPED,
                )
            )
    for name, info in result["lookup_db_ms"].items():
        worst = max((s["execution_ms"] for s in info["selects"]), default=0.0)
        rows.append(
            (f"GetCallURL {name}: database time", f"{worst} ms", "≤ 1 ms", worst <= GOAL_DB_MS)
        )
    search = result.get("search_calls", {})
    for name, case in search.get("cases", {}).items():
        rows.append(
            (
                f"SearchCalls {name} ({search['calls']:,} calls, {search['days']:.0f} days)",
                f"{case['db_ms']} ms",
                f"≤ {case['goal_ms']:.0f} ms",
                case["db_ms"] <= case["goal_ms"],
            )
        )
    export = result.get("export", {})
    shipped, before = export.get("as shipped"), export.get("import-export's way")
    if shipped and before:
        rows.append(
            (
                f"admin CSV export, {shipped['rows']:,} rows: rows/s (× import-export's way)",
                f"{shipped['rows_per_s']:,} ({export['ratio']} ×)",
                f"≥ {GOAL_EXPORT_ROWS_PER_S:,.0f} (1 M in 60 s)",
                shipped["rows_per_s"] >= GOAL_EXPORT_ROWS_PER_S,
            )
        )
        rows.append(
            (
                "admin CSV export: peak RSS (import-export's way)",
                f"{shipped['peak_rss_mib']} MiB ({before['peak_rss_mib']})",
                "flat",
                shipped["peak_rss_mib"] <= before["peak_rss_mib"] + 20,
            )
        )
        rows.append(
            (
                "admin CSV export: the same bytes as import-export's",
                f"{export['same bytes']}",
                "True",
                bool(export["same bytes"]),
            )
        )
    return rows


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Run `{result['label']}` of commit {result['app_commit']}, {result['when']}: "
        f"{result['calls']:,} calls, {result['audit_rows']:,} audit rows; "
        f"{m['cores']} cores ({m['cpu']}), load average {m['load_average']} at the end, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}. wrk: "
        f"{result['wrk']['connections']} connections, {result['wrk']['rounds']} rounds × "
        f"{result['wrk']['seconds']:g} s per variant, interleaved; medians.",
        "",
        "As shipped: "
        + ", ".join(f"{k} {v}" for k, v in result.get("settings", {}).items())
        + " (a key spends from its bucket inside the request's one statement, in leases of"
        " 1 % of the rate, at most 100 requests, per worker process: here 1 spend in 100"
        " requests; at the shipped 600/min, 1 in 6).",
        "",
        "Every goal, met or missed (ratios from the interleaved run above):",
        "",
        "| goal | measured | target | |",
        "|---|---:|---:|---|",
        *(
            f"| {what} | {measured} | {target} | {'met' if met else '**missed**'} |"
            for what, measured, target, met in goal_rows(result)
        ),
        "",
        "CPU per request: the servers' processes' and the database's backends' (user + "
        "system, from /proc) during a variant's run, divided by the requests it served "
        "(median of the rounds); wrk's own is not counted.",
        "",
        "| variant | requests/s | × NOPE | × Django | p50 / p99 ms at max | "
        "p50 / p99 ms at half rate | queries | CPU µs per request: app / PostgreSQL |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in result["variants"].items():
        half = v["half_rate"]
        half_text = f"{half['p50_ms']} / {half['p99_ms']}" if half else "–"
        lines.append(
            f"| {name} | {v['rps_median']} | {v['vs_nope']} | {v['vs_django']} | "
            f"{v['p50_ms_max_load']} / {v['p99_ms_max_load']} | {half_text} | "
            f"{'–' if v['queries'] is None else v['queries']} | "
            f"{v.get('app_cpu_us', '–')} / {v.get('postgresql_cpu_us', '–')} |"
        )
    lines += [
        "",
        "Database time of each lookup query (EXPLAIN ANALYZE, median):",
        "",
        "| variant | query on | planning ms | execution ms | top node |",
        "|---|---|---:|---:|---|",
    ]
    for name, info in result["lookup_db_ms"].items():
        for s in info["selects"]:
            lines.append(
                f"| {name} | {s['table']} | {s['planning_ms']} | "
                f"{s['execution_ms']} | {s['top_node']} |"
            )
    lines += [
        "",
        "Other read paths:",
        "",
        "| path | request ms | database ms | SELECTs |",
        "|---|---:|---:|---:|",
    ]
    for name, info in result["read_paths"].items():
        if isinstance(info, dict) and "failed" in info:
            lines.append(f"| {name} | failed after {info['after_ms']} ms | – | – |")
        if isinstance(info, dict) and "db_ms" in info:
            lines.append(f"| {name} | {info['request_ms']} | {info['db_ms']} | {info['selects']} |")
    for name, info in result["read_paths"].items():
        if isinstance(info, dict) and "peak_mib" in info:
            lines.append(
                f"\n{name}: peak Python memory {info['peak_mib']} MiB, "
                f"{'streamed' if info['streaming'] else 'built in memory'}, "
                f"{info['bytes']:,} bytes in {info['seconds']} s."
            )
    lines += [
        "",
        "Goals missed in this run:" if result["goals_missed"] else "No goal missed in this run.",
        "",
    ]
    lines += [f"- {g}" for g in result["goals_missed"]]
    return "\n".join(lines)


def write_doc(table: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
