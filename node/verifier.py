"""Validation of batches of records, with signature verification off the event loop.

The stages of ``protocol.validate`` in their order: the first (size, encoding, schema, signer
set) and the last (time, policy) run here, in the node's process: they are cheap, and they give
the ``Record`` values the store needs. Only the signature checks (the costly middle stage) go
to worker processes, as (signing input, signatures) pairs, so that verification uses every core
while the event loop keeps serving.

The records of every ``check`` call made in one turn of the event loop (many one-record
requests arriving together) are verified together: one question to the store for the ones it
already holds with exactly these bytes (they passed this stage before: a peer's sync sends
many), and one dispatch of the rest to the workers. Few records are verified inline: a worker
round trip costs more than the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import stat
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from crypto.verifiers import SignatureVerifier, by_name, fastest
from protocol import (
    ALLOW_ALL,
    Policy,
    Record,
    Rejected,
    Signature,
    SignatureError,
    check_after_signatures,
    check_before_signatures,
    verify_each,
)

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1  # prctl(2)
INLINE_BELOW = 4  # fewer records are verified on the event loop: a worker round trip costs more
CHUNK = 24  # records per dispatch to a worker at least (up to two dispatches per worker)

Job = tuple[bytes, tuple[Signature, ...]]  # (signing input, signatures)
# the wire bytes of the records held (and not retracted) among these ids: ``live_wires``
HeldWires = Callable[[list[bytes]], Awaitable[list[bytes]]]


def _verify_jobs(jobs: list[Job], verifier_name: str) -> list[str | None]:
    """Runs in a worker: None for each job whose signatures verify, else the failure."""
    verifier = by_name(verifier_name)
    out: list[str | None] = []
    for message, sigs in jobs:
        try:
            verify_each(message, sigs, verifier)
        except Rejected as exc:
            out.append(exc.detail)
        else:
            out.append(None)
    return out


def _start_worker() -> None:
    """Runs first in each worker, forked from the node. The worker dies with the node (a node
    killed with -9 left its workers behind: each kept the other alive through the pool's pipes,
    and the event loop's signal handlers they inherit make them deaf to SIGTERM), and it
    closes the node's sockets (the listening one, database connections: a PostgreSQL worker's
    leader-lock connection kept open by the verifier workers of a killed leader kept the lead
    from passing on). The pool's own pipes are pipes, not sockets."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: nothing to do here
        return
    for name in names:
        try:
            fd = int(name)
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)
        except (ValueError, OSError):
            continue


@dataclass(frozen=True)
class Checked:
    """The outcome of validation (all of section 4) for one wire form: a record, or the refusal."""

    record: Record | None
    refusal: Rejected | None


@dataclass
class _Waiting:
    """The records of one ``check`` call, waiting for the verification of their loop turn."""

    records: list[Record]
    held: HeldWires | None
    future: asyncio.Future[list[str | None]]


VERIFIER_ENV = "RAKUICHI_VERIFIER"  # cryptography | pynacl; unset: the fastest installed


def chosen_verifier() -> SignatureVerifier:
    """The verifier named by ``RAKUICHI_VERIFIER`` (for benchmarks), else the fastest."""
    name = os.environ.get(VERIFIER_ENV, "").strip()
    if not name:
        return fastest()
    try:
        return by_name(name)
    except KeyError:
        raise ValueError(
            f"{VERIFIER_ENV}={name!r}: not an installed verifier (cryptography or pynacl)"
        ) from None


class Verifier:
    """Checks batches of wire records; signatures by ``signatures`` (default: the fastest)."""

    def __init__(
        self, workers: int | None = None, signatures: SignatureVerifier | None = None
    ) -> None:
        self.signatures = signatures or chosen_verifier()
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(count, initializer=_start_worker) if count > 0 else None
        self._workers = count
        self.queued = 0  # signatures waiting for or in verification (a metric)
        self.skipped = 0  # records not verified again: held with the same bytes (a metric)
        self._waiting: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    async def check(
        self,
        wires: list[bytes],
        now_ms: int,
        policy: Policy = ALLOW_ALL,
        held: HeldWires | None = None,
    ) -> list[Checked]:
        """``protocol.validate``'s three stages for each of ``wires``, the middle one in workers.

        With ``held`` (the store's ``live_wires``), a record already held with exactly the same
        wire bytes is not verified again: the same bytes passed the same checks before (the id
        does not cover the signatures, so only identical bytes qualify). Time and policy are
        checked again all the same."""
        parsed: list[Record | Rejected] = []
        for wire in wires:
            try:
                record = check_before_signatures(wire)
            except Rejected as exc:
                parsed.append(exc)
            else:
                parsed.append(record)
        records = [r for r in parsed if isinstance(r, Record)]
        self.queued += len(records)
        try:
            failures = iter(await self._signatures(records, held))
        finally:
            self.queued -= len(records)
        out: list[Checked] = []
        for item in parsed:
            if isinstance(item, Rejected):
                out.append(Checked(None, item))
                continue
            failure = next(failures)
            try:
                if failure is not None:
                    raise SignatureError(failure)
                check_after_signatures(item, now_ms, policy)
            except Rejected as exc:
                out.append(Checked(None, exc))
            else:
                out.append(Checked(item, None))
        return out

    async def _signatures(self, records: list[Record], held: HeldWires | None) -> list[str | None]:
        """For each record, None when its signatures verify, else the failure; verified with
        the records of every other call made in this turn of the event loop."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        waiting = _Waiting(records, held, loop.create_future())
        if not self._waiting:
            loop.call_soon(self._start_turn)
        self._waiting.append(waiting)
        return await waiting.future

    def _start_turn(self) -> None:
        turn, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._verify_turn(turn))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _verify_turn(self, turn: list[_Waiting]) -> None:
        try:
            known: dict[HeldWires, set[bytes]] = {}
            for held in {w.held for w in turn if w.held is not None}:
                ids = [r.id for w in turn if w.held == held for r in w.records]
                known[held] = set(await held(ids))
            none: set[bytes] = set()
            skip = [known.get(w.held, none) if w.held is not None else none for w in turn]
            jobs = [
                (r.signing_input, r.sigs)
                for w, same in zip(turn, skip, strict=True)
                for r in w.records
                if r.wire not in same
            ]
            self.skipped += sum(len(w.records) for w in turn) - len(jobs)
            failures = iter(await self._verify(jobs))
            for w, same in zip(turn, skip, strict=True):
                out = [None if r.wire in same else next(failures) for r in w.records]
                if not w.future.done():
                    w.future.set_result(out)
        except asyncio.CancelledError:
            for w in turn:
                w.future.cancel()
            raise
        except Exception as exc:  # the store or a worker failed: every caller learns it
            for w in turn:
                if not w.future.done():
                    w.future.set_exception(exc)

    async def _verify(self, jobs: list[Job]) -> list[str | None]:
        if self._pool is None or len(jobs) < INLINE_BELOW:
            return _verify_jobs(jobs, self.signatures.name)
        loop = asyncio.get_running_loop()
        parts = max(1, min(self._workers * 2, len(jobs) // CHUNK))
        size = -(-len(jobs) // parts)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        results = await asyncio.gather(
            *(
                loop.run_in_executor(self._pool, _verify_jobs, chunk, self.signatures.name)
                for chunk in chunks
            )
        )
        return [failure for part in results for failure in part]

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process (a thread when there are none): costly checks
        that must not hold the event loop. ``fn`` and its arguments must pickle."""
        if self._pool is None:
            return await asyncio.to_thread(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
