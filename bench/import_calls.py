"""Measure `manage.py import_calls` on a generated CSV: wall time and peak memory, twice.

    .venv/bin/python bench/import_calls.py [--rows 1000000] [--database callportal_ingest_bench]

Generates a CSV in the Verba CDR export's column layout under bench/data/ (git-ignored; kept
between runs), recreates the PostgreSQL database given (it is dropped first!), migrates it,
then imports the file twice. The second run must create nothing: it checks idempotency.
Peak memory is the import process's own maximum resident set size (wait4 rusage).
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchdb import ROOT, SERVER, connect, django_env, recreate

DATA = ROOT / "bench" / "data"
HEADER = [
    "ccdr_id",
    "native_id",
    "source_caller_id",
    "source_name",
    "destination_caller_id",
    "destination_name",
    "start_time",
    "end_time",
    "direction_id",
    "platform_call_id",
    "do_not_delete",
]
NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Linus Torvalds", "Barbara Liskov", ""]
DIRECTIONS = ["PSTN In", "PSTN Out", "Internal", "Federated In", "3"]


def generate(path: Path, rows: int) -> None:
    """A reproducible file: the same seed gives the same ids, so re-runs are comparable."""
    rng = random.Random(20261126)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    extensions = [str(8000 + i) for i in range(2000)]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for n in range(rows):
            started = start + timedelta(seconds=n * 30 + rng.randint(0, 29))
            ended = started + timedelta(seconds=rng.randint(5, 1800))
            external = f"+4420{rng.randint(1000000, 9999999)}"
            extension = rng.choice(extensions)
            caller, called = (external, extension) if n % 2 else (extension, external)
            out.writerow(
                [
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    f"native-{n}",
                    caller,
                    rng.choice(NAMES),
                    called,
                    rng.choice(NAMES),
                    started.strftime("%Y-%m-%d %H:%M:%S.") + f"{started.microsecond // 1000:03d}",
                    ended.strftime("%Y-%m-%d %H:%M:%S.") + f"{ended.microsecond // 1000:03d}",
                    rng.choice(DIRECTIONS),
                    f"{n}@pbx",
                    "1" if n % 97 == 0 else "0",
                ]
            )
    tmp.rename(path)


def count_calls(server: str, name: str) -> int:
    conn = connect(name, server)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM calls_call")
        (count,) = cur.fetchone()
    conn.close()
    return count


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS in MiB, stdout's last line) of one child process.

    CPU time is the import process's own (user + system), not PostgreSQL's: on a shared
    machine it drifts less than wall time.
    """
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit status {proc.returncode}")
    lines = output.strip().splitlines()
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="callportal_ingest_bench")
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"cdr-{args.rows}.csv"
    if not path.exists():
        t = time.monotonic()
        generate(path, args.rows)
        print(
            f"Generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.monotonic() - t:.0f} s"
        )

    recreate(args.database, args.server)
    env = django_env(args.database, args.server)
    command = [
        sys.executable,
        "manage.py",
        "import_calls",
        str(path),
        "--no-progress",
        "--batch-size",
        str(args.batch_size),
    ]
    print(f"{'run':<8}{'wall s':>9}{'CPU s':>8}{'peak MiB':>10}{'calls':>10}  summary")
    for run in ("first", "re-run"):
        wall, cpu, peak, summary = run_measured(command, env)
        calls = count_calls(args.server, args.database)
        print(
            f"{run:<8}{wall:>9.1f}{cpu:>8.1f}{peak:>10.0f}{calls:>10}  "
            f"{summary.split(': ', 1)[-1]}",
            flush=True,
        )


if __name__ == "__main__":
    main()
