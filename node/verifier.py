"""Validation off the event loop: steps 1-5 of PROTOCOL-v1 section 4 for batches of records.

Small batches are validated inline (a worker round trip costs more than the work). Larger ones
are split across worker processes, so that signature verification uses every core while the
event loop keeps serving. Workers send back the parsed ``Record`` of each valid wire (pickled,
far cheaper to load than parsing again) or the refusal's class and detail.

Small batches submitted during the same event-loop turn (many one-record requests at once) are
gathered and verified by the workers, in runs of whole submissions spread over the workers, each
answered as soon as its run is done; each keeps its own clock reading, so every outcome is what
it would have been alone. A small batch that comes alone is still verified inline.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from protocol.errors import REJECTION_CLASSES, Rejected
from protocol.record import Record
from protocol.validate import check_time, parse, verify_signatures

INLINE_BELOW = 24  # a batch this small is verified inline when it comes alone
CHUNK_MIN = 8  # records in one worker task at least (unless there are fewer)

Verdict = Record | tuple[str, str]  # the record when valid, else (class, detail)


def _verdict(wire: bytes, now_ms: int) -> Verdict:
    try:
        record = parse(wire)
        verify_signatures(record)
        check_time(record, now_ms)
    except Rejected as exc:
        return (exc.klass, exc.detail)
    return record


def _verdicts(wires: list[bytes], now_ms: int) -> list[Verdict]:
    return [_verdict(wire, now_ms) for wire in wires]


def _verdicts_at(jobs: list[tuple[bytes, int]]) -> list[Verdict]:
    """Verdicts for wires that each carry their own clock reading."""
    return [_verdict(wire, now_ms) for wire, now_ms in jobs]


@dataclass(frozen=True)
class Checked:
    """The outcome of steps 1-5 for one wire form: a record, or the refusal."""

    record: Record | None
    refusal: Rejected | None


@dataclass
class _Waiting:
    wires: list[bytes]
    now_ms: int
    future: asyncio.Future[list[Verdict]]


class Verifier:
    def __init__(self, workers: int | None = None) -> None:
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(count) if count > 0 else None
        self._workers = count
        self._waiting: list[_Waiting] = []

    async def check(self, wires: list[bytes], now_ms: int) -> list[Checked]:
        if self._pool is None:
            verdicts = _verdicts(wires, now_ms)
        elif len(wires) >= INLINE_BELOW:
            verdicts = await self._in_workers([(w, now_ms) for w in wires])
        else:
            verdicts = await self._gathered(wires, now_ms)
        return [_checked(verdict) for verdict in verdicts]

    async def _in_workers(self, jobs: list[tuple[bytes, int]]) -> list[Verdict]:
        loop = asyncio.get_running_loop()
        parts = max(1, min(self._workers * 2, len(jobs) // CHUNK_MIN))
        size = -(-len(jobs) // parts)
        results = await asyncio.gather(*(
            loop.run_in_executor(self._pool, _verdicts_at, jobs[i:i + size])
            for i in range(0, len(jobs), size)))
        return [v for part in results for v in part]

    async def _gathered(self, wires: list[bytes], now_ms: int) -> list[Verdict]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Verdict]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append(_Waiting(wires, now_ms, future))
        return await future

    def _flush(self) -> None:
        """Verify what gathered during one loop turn: alone, inline; else in the workers, cut
        into runs of whole submissions that each answer as soon as their own run is done."""
        group, self._waiting = self._waiting, []
        total = sum(len(item.wires) for item in group)
        if len(group) == 1 and total < INLINE_BELOW:
            item = group[0]
            try:
                item.future.set_result(_verdicts(item.wires, item.now_ms))
            except Exception as exc:  # cannot happen: refusals are verdicts
                item.future.set_exception(exc)
            return
        parts = max(1, min(self._workers * 2, total // CHUNK_MIN))
        size = -(-total // parts)
        run: list[_Waiting] = []
        count = 0
        for item in group:
            run.append(item)
            count += len(item.wires)
            if count >= size:
                asyncio.get_running_loop().create_task(self._verify_run(run))
                run, count = [], 0
        if run:
            asyncio.get_running_loop().create_task(self._verify_run(run))

    async def _verify_run(self, run: list[_Waiting]) -> None:
        jobs = [(w, item.now_ms) for item in run for w in item.wires]
        try:
            verdicts = await asyncio.get_running_loop().run_in_executor(
                self._pool, _verdicts_at, jobs)
        except BaseException as exc:  # the pool broke: every waiter learns it
            for item in run:
                if not item.future.done():
                    item.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for item in run:
            if not item.future.done():
                item.future.set_result(verdicts[start:start + len(item.wires)])
            start += len(item.wires)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _checked(verdict: Verdict) -> Checked:
    if isinstance(verdict, Record):
        return Checked(verdict, None)
    klass, detail = verdict
    return Checked(None, REJECTION_CLASSES[klass](detail))
