"""``python -m benchmarks NAME [--quick] [--rounds N] [--out DIR]``; NAME may be ``all``."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR, WORK_DIR, Options, Row, markdown

NAMES = ("ingest", "sync", "query", "converge", "footprint", "simulate", "stream", "board")
# run by name only (they start a PostgreSQL server): ``ingest --store postgresql`` is
# ``engines``, ``query --store postgresql`` is ``pgquery``, ``all --store postgresql`` both
EXTRA = ("engines", "pgquery")
ON_POSTGRESQL = {"ingest": ("engines",), "query": ("pgquery",), "all": ("engines", "pgquery")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=[*NAMES, *EXTRA, "all"])
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: ingest (engines: SQLite beside PostgreSQL, 1 and 2 workers) or query"
        " (pgquery: every query's p99 from 10k to 1M records on PostgreSQL)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 3, quick 1)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where NAME.json goes (default "
        "benchmarks/results, or benchmarks/work/quick-results with --quick)",
    )
    parser.add_argument(
        "--work", type=Path, default=WORK_DIR, help="cache of generated records and stores"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    out = args.out or (WORK_DIR / "quick-results" if args.quick else RESULTS_DIR)
    options = Options(quick=args.quick, rounds=rounds, out=out, work=args.work)
    names: tuple[str, ...] = NAMES if args.name == "all" else (args.name,)
    if args.store == "postgresql":
        if args.name not in ON_POSTGRESQL:
            parser.error(f"--store postgresql runs ingest, query or all, not {args.name}")
        names = ON_POSTGRESQL[args.name]
    results: dict[str, list[Row]] = {}
    failed = []
    started = time.monotonic()
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.monotonic()
        try:
            results[name] = module.run(options)
        except Exception as exc:  # one benchmark failing must not hide the others' results
            failed.append(name)
            print(f"== {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            if len(names) == 1:
                raise
        print(f"  ({name}: {time.monotonic() - t0:.0f} s)\n", flush=True)
    if len(names) > 1:
        print(f"all: {time.monotonic() - started:.0f} s")
        (out / "summary.md").write_text(
            "\n\n".join(f"### {name}\n\n{markdown(rows)}" for name, rows in results.items()) + "\n",
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
