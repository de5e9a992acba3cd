"""Validation off the event loop: steps 1-5 of PROTOCOL-v1 section 4 for batches of records.

Small batches are validated inline (a worker round trip costs more than the work). Larger ones
are split across worker processes, so that signature verification uses every core while the
event loop keeps serving. Workers return only verdicts; accepted records are parsed again here
(cheap next to verification) to get the ``Record`` values.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from protocol.errors import REJECTION_CLASSES, Rejected
from protocol.record import Record
from protocol.validate import check_time, parse, verify_signatures

INLINE_BELOW = 24

Verdict = tuple[str, str] | None  # (class, detail) for a refusal, None for a valid record


def _verdicts(wires: list[bytes], now_ms: int) -> list[Verdict]:
    out: list[Verdict] = []
    for wire in wires:
        try:
            record = parse(wire)
            verify_signatures(record)
            check_time(record, now_ms)
        except Rejected as exc:
            out.append((exc.klass, exc.detail))
        else:
            out.append(None)
    return out


@dataclass(frozen=True)
class Checked:
    """The outcome of steps 1-5 for one wire form: a record, or the refusal."""

    record: Record | None
    refusal: Rejected | None


class Verifier:
    def __init__(self, workers: int | None = None) -> None:
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(count) if count > 0 else None
        self._workers = count

    async def check(self, wires: list[bytes], now_ms: int) -> list[Checked]:
        if self._pool is None or len(wires) < INLINE_BELOW:
            verdicts = _verdicts(wires, now_ms)
        else:
            loop = asyncio.get_running_loop()
            parts = max(1, min(self._workers * 2, len(wires) // INLINE_BELOW))
            size = -(-len(wires) // parts)
            chunks = [wires[i:i + size] for i in range(0, len(wires), size)]
            results = await asyncio.gather(*(
                loop.run_in_executor(self._pool, _verdicts, chunk, now_ms) for chunk in chunks))
            verdicts = [v for part in results for v in part]
        return [_checked(wire, verdict) for wire, verdict in zip(wires, verdicts, strict=True)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _checked(wire: bytes, verdict: Verdict) -> Checked:
    if verdict is None:
        return Checked(parse(wire), None)
    klass, detail = verdict
    return Checked(None, REJECTION_CLASSES[klass](detail))
