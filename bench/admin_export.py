"""The admin's CSV export of calls: rows a second, peak memory and the bytes, both ways.

    .venv/bin/python bench/admin_export.py [--rows 200000] [--rounds 2] [--database NAME]
                                           [--shipped-only]

Uses bench/run.py's database (`--database`, default `bench13_calls_<rows>`: run `make bench`
or bench/admin_reads.py first to load it) and exports its newest `--rows` calls, every
column, through the admin as a superuser, each export in a child process of its own
(bench/admin_reads.py's export child: peak RSS by ru_maxrss). Interleaved, `--rounds`
times: the export as shipped (rows written from `values_list` on the CPU pool,
calls.resources._chunk_text), and
the resource's own way (import-export's per-field machinery, as before issue 24) in the
same child with the fast path switched off. Prints rows a second, seconds, peak RSS and
the SHA-256 of each export: the two ways must write the same bytes. `--shipped-only` leaves
out the resource's way (about 1,000 rows a second: minutes at a million rows), to measure
the goal alone (1 M rows in at most 60 s: `--rows 1000000`). Each figure comes with the
load average it was measured at.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WAYS = ("as shipped", "import-export's way")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", default=None)
    parser.add_argument("--child", choices=WAYS, default=None)
    parser.add_argument("--shipped-only", action="store_true")
    args = parser.parse_args()
    database = args.database or f"bench13_calls_{args.rows}"
    if args.child:
        print(json.dumps(child(database, args.rows, args.child)))
        return
    ways = WAYS[:1] if args.shipped_only else WAYS
    print(json.dumps(measure(database, args.rows, args.rounds, ways), indent=1))


def measure(database: str, rows: int, rounds: int, ways: tuple[str, ...]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    for round_no in range(rounds):
        for way in ways:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--database",
                    database,
                    "--rows",
                    str(rows),
                    "--child",
                    way,
                ],
                cwd=BENCH,
                check=True,
                capture_output=True,
                text=True,
            )
            runs[way].append(json.loads(done.stdout.strip().splitlines()[-1]))
            last = runs[way][-1]
            print(f"round {round_no + 1}, {way}: {last}", file=sys.stderr, flush=True)
    out: dict[str, Any] = {}
    for way, results in runs.items():
        out[way] = {
            "rows": results[0]["rows_exported"],
            "rows_per_s": round(statistics.median(r["rows_per_s"] for r in results)),
            "seconds": statistics.median(r["seconds"] for r in results),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            "sha256": sorted({r["sha256"] for r in results}),
            "load": [[r["load_before"], r["load_after"]] for r in results],
        }
    shipped = out[WAYS[0]]
    met = shipped["rows_per_s"] >= 16_667
    shipped["goal: 16,667 rows/s (1 M in 60 s)"] = "met" if met else "missed"
    if WAYS[1] in out:
        before = out[WAYS[1]]
        out["same bytes"] = shipped["sha256"] == before["sha256"] and len(shipped["sha256"]) == 1
        out["ratio"] = round(shipped["rows_per_s"] / before["rows_per_s"], 1)
    return out


def child(database: str, rows: int, way: str) -> dict[str, Any]:
    import hashlib

    sys.path.insert(0, str(BENCH))
    from admin_reads import export_child, setup

    setup(database)
    if way != WAYS[0]:
        from calls import resources

        resources._cells = lambda *args: None  # the resource's own way, as before
    digest = hashlib.sha256()
    result = export_child(database, rows, sink=digest.update)
    result["sha256"] = digest.hexdigest()[:16]
    result["rows_per_s"] = round(result["rows_exported"] / result["seconds"])
    return result


if __name__ == "__main__":
    main()
