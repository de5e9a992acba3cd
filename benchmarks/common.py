"""What every benchmark shares: rows of figures against limits, the machine, tables, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
RESULTS_DIR = PACKAGE_DIR / "results"
WORK_DIR = PACKAGE_DIR / "work"  # git-ignored: caches of signed records and built stores
LIBRARIES = ("aiohttp", "aiosqlite", "cryptography", "msgpack")


@dataclass(frozen=True)
class Options:
    quick: bool = False
    rounds: int = 3
    out: Path = RESULTS_DIR
    work: Path = WORK_DIR


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of the rounds."""
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass
class Row:
    """One figure: its value per round, the limit beside it per round, and the target.

    ``ratio`` per round is ``value / limit`` of that round. ``met`` says whether the target
    holds for the median (the worst round is shown beside it).
    """

    name: str
    unit: str
    values: list[float]
    limit_name: str = ""
    limit_unit: str = ""
    limits: list[float] = field(default_factory=list)
    target: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    also: str = ""  # one more figure for the table, e.g. round trips

    @property
    def ratios(self) -> list[float]:
        return [v / lim for v, lim in zip(self.values, self.limits, strict=False) if lim]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "unit": self.unit,
            "measured": {**summary(self.values), "rounds": self.values},
        }
        if self.limits:
            data["limit"] = {
                "name": self.limit_name,
                "unit": self.limit_unit,
                **summary(self.limits),
                "rounds": self.limits,
            }
            data["ratio"] = {**summary(self.ratios), "rounds": self.ratios}
        data["target"] = self.target
        data["met"] = self.met
        if self.also:
            data["also"] = self.also
        if self.extra:
            data["extra"] = self.extra
        return data


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            memory = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "libraries": versions,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def fmt(value: float, unit: str = "") -> str:
    if value != value:  # nan
        return "-"
    if 0 < abs(value) < 0.001:
        return f"{value:.1e} {unit}".rstrip()
    if abs(value) >= 100_000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip()


def spread(values: Sequence[float], unit: str = "") -> str:
    """``median [min-max]`` of the rounds."""
    return _spread(values, unit)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: Sequence[float], unit: str = "") -> str:
    s = summary(values)
    if values and all(float(v).is_integer() for v in values):  # counts, bytes, rounds

        def whole(v: float) -> str:
            return f"{int(v):,}" if abs(v) >= 100_000 else f"{v:g}"

        text = f"{whole(s['median'])} {unit}".rstrip()
        return text if s["min"] == s["max"] else f"{text} [{whole(s['min'])}-{whole(s['max'])}]"
    if len(values) < 2 or s["min"] == s["max"]:
        return fmt(s["median"], unit)
    return f"{fmt(s['median'], unit)} [{fmt(s['min'])}-{fmt(s['max'])}]"


def table(title: str, rows: Sequence[Row]) -> str:
    """A plain-text table: figure, measured, limit, ratio (median [min-max]), target, met."""
    head = ("figure", "measured", "limit", "ratio", "target", "met", "also")
    lines = [
        (
            r.name,
            _spread(r.values, r.unit),
            _spread(r.limits, r.limit_unit) if r.limits else "",
            _spread(r.ratios, "x") if r.limits else "",
            r.target,
            {True: "yes", False: "NO", None: ""}[r.met],
            r.also,
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    out = [
        title,
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(line.rstrip() for line in out)


def markdown(rows: Sequence[Row]) -> str:
    """The same rows as a Markdown table (for the README's Performance section)."""
    out = [
        "| figure | measured | limit | ratio | target | met | also |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            "| "
            + " | ".join(
                [
                    r.name,
                    _spread(r.values, r.unit),
                    f"{_spread(r.limits, r.limit_unit)} ({r.limit_name})" if r.limits else "",
                    _spread(r.ratios, "x") if r.limits else "",
                    r.target,
                    {True: "yes", False: "**no**", None: ""}[r.met],
                    r.also,
                ]
            )
            + " |"
        )
    return "\n".join(out)


def write_result(
    name: str,
    options: Options,
    rows: Sequence[Row],
    params: dict[str, Any],
    started: float,
    notes: Sequence[str] = (),
) -> Path:
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / f"{name}.json"
    data = {
        "benchmark": name,
        "mode": "quick" if options.quick else "full",
        "rounds": options.rounds,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "parameters": params,
        "machine": machine(),
        "rows": [r.to_json() for r in rows],
        "notes": list(notes),
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def report(
    name: str,
    options: Options,
    rows: Sequence[Row],
    params: dict[str, Any],
    started: float,
    notes: Sequence[str] = (),
) -> list[Row]:
    """Print the table and write ``NAME.json``; returns the rows."""
    title = f"== {name} ({'quick' if options.quick else 'full'}, {options.rounds} rounds)"
    print(table(title, rows))
    for note in notes:
        print(f"  note: {note}")
    path = write_result(name, options, rows, params, started, notes)
    print(f"  -> {path}", flush=True)
    return list(rows)


class Deadline:
    """A bound on a loop in time: ``if deadline.passed: stop``."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end

    @property
    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())
