"""Every benchmark runs in quick mode and reports (its numbers are not checked here), and the
verifier's worker path decides exactly as its inline path does."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.__main__ import NAMES
from node.verifier import Verifier
from tests.support import Cast, now_ms, one_of_every_kind

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_quick_and_reports(tmp_path: Path) -> None:
    out, work = tmp_path / "results", tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "all",
            "--quick",
            "--rounds",
            "1",
            "--out",
            str(out),
            "--work",
            str(work),
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
    for name in NAMES:
        data = json.loads((out / f"{name}.json").read_text())
        assert data["benchmark"] == name and data["mode"] == "quick"
        assert data["machine"]["cores"] and data["machine"]["libraries"]["cryptography"]
        assert data["rows"], name
        for row in data["rows"]:
            assert row["measured"]["rounds"], (name, row["name"])
            assert row["target"], (name, row["name"])
            if "limit" in row:
                assert row["limit"]["rounds"] and row["ratio"]["rounds"], (name, row["name"])
        assert f"== {name} (quick" in result.stdout
    assert (out / "summary.md").exists()


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
