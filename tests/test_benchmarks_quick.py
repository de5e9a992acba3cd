"""Every benchmark runs in quick mode and reports (its numbers are not checked here), and the
verifier's worker path decides exactly as its inline path does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.__main__ import NAMES
from node.verifier import Verifier
from tests.support import Cast, now_ms, one_of_every_kind

ROOT = Path(__file__).resolve().parent.parent


def run_quick(
    tmp_path: Path, *args: str, work: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python -m benchmarks ARGS --quick --rounds 1`` to completion (at most 240 s)."""
    out, work = tmp_path / "results", work or tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", *args, "--quick", "--rounds", "1"),
            *("--out", str(out), "--work", str(work)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert time.monotonic() - started < 240
    return result, out


def check_report(name: str, out: Path, stdout: str) -> None:
    data = json.loads((out / f"{name}.json").read_text())
    assert data["benchmark"] == name and data["mode"] == "quick"
    assert data["machine"]["cores"] and data["machine"]["libraries"]["cryptography"]
    assert data["rows"], name
    for row in data["rows"]:
        assert row["measured"]["rounds"], (name, row["name"])
        assert row["target"], (name, row["name"])
        if "limit" in row:
            assert row["limit"]["rounds"] and row["ratio"]["rounds"], (name, row["name"])
    assert f"== {name} (quick" in stdout


def test_every_benchmark_runs_quick_and_reports(tmp_path: Path) -> None:
    result, out = run_quick(tmp_path, "all")
    for name in NAMES:
        check_report(name, out, result.stdout)
    assert (out / "summary.md").exists()


@pytest.mark.parametrize(("name", "module"), [("ingest", "engines"), ("query", "pgquery")])
def test_postgresql_benchmarks_run_quick_and_report(tmp_path: Path, name: str, module: str) -> None:
    """``NAME --store postgresql``: engines (about 25 s quick) and pgquery (about 15 s), each
    with a PostgreSQL server of its own. pgquery keeps its cluster in the work folder, which
    the server's user (``postgres`` when the tests run as root) must be able to reach: a
    folder of its own in the system's temporary directory, not inside pytest's private one."""
    work = Path(tempfile.mkdtemp(prefix="rakuichi-bench-"))
    work.chmod(0o755)
    try:
        result, out = run_quick(tmp_path, name, "--store", "postgresql", work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check_report(module, out, result.stdout)


def _tampered(wire: bytes) -> bytes:
    """The same record with one signature byte flipped."""
    index = len(wire) - 10  # inside the last signature (the wire ends with "v": 1)
    return wire[:index] + bytes([wire[index] ^ 1]) + wire[index + 1 :]


@pytest.mark.parametrize("many", [False, True])
def test_worker_verdicts_equal_inline_verdicts(many: bool) -> None:
    records = one_of_every_kind(Cast.fresh(), now_ms())
    wires = [r.wire for r in records] + [_tampered(records[0].wire), b"\x80", b"not msgpack"]
    wires = wires * (4 if many else 1)  # 52 wires: several dispatches to the workers, 13: one

    async def both() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        inline, pooled = Verifier(0), Verifier(2)
        try:
            now = now_ms()
            singles = await asyncio.gather(*(pooled.check([w], now) for w in wires))
            answers = [
                await inline.check(wires, now),
                await pooled.check(wires, now),
                [c for part in singles for c in part],
            ]
        finally:
            inline.close()
            pooled.close()
        views = [
            [
                (
                    c.record.id if c.record else None,
                    c.record.wire if c.record else None,
                    type(c.refusal).__name__,
                    getattr(c.refusal, "detail", None),
                )
                for c in answer
            ]
            for answer in answers
        ]
        assert views[0] == views[2]
        return views[0], views[1]

    inline, pooled = asyncio.run(both())
    assert inline == pooled
    assert sum(1 for v in inline if v[0] is None) == (3 * (4 if many else 1))
