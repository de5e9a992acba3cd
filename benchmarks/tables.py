"""``python -m benchmarks.tables [NAME ...]``: the Markdown tables of the results in
``benchmarks/results/`` (all of them, or the named ones), as the README's Performance section
shows them, with each run's date and load average."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, Row, markdown

ORDER: tuple[str, ...] = ("ingest", "query", "board", "stream", "sync", "converge", "footprint")
ORDER += ("engines", "pgquery", "simulate")


def row_of(data: dict[str, Any]) -> Row:
    limit = data.get("limit") or {}
    return Row(
        name=data["name"],
        unit=data["unit"],
        values=list(data["measured"]["rounds"]),
        limit_name=limit.get("name", ""),
        limit_unit=limit.get("unit", ""),
        limits=list(limit.get("rounds", [])),
        target=data.get("target", ""),
        met=data.get("met"),
        also=data.get("also", ""),
    )


def section(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    load = data.get("machine", {}).get("load_average") or []
    when = f"{data['started']}, {data['rounds']} rounds"
    if load:
        when += ", load average " + " / ".join(f"{x:.1f}" for x in load)
    rows = [row_of(r) for r in data["rows"]]
    return f"**{data['benchmark']}** ({when})\n\n{markdown(rows)}\n"


def main(argv: list[str]) -> int:
    names = argv or [n for n in ORDER if (RESULTS_DIR / f"{n}.json").exists()]
    print("\n".join(section(RESULTS_DIR / f"{n}.json") for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
