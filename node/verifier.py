"""Validation of batches of records, with signature verification off the event loop.

The stages of ``protocol.validate`` in their order: the first (size, encoding, schema, signer
set) and the last (time, policy) run here, in the node's process: they are cheap, and they give
the ``Record`` values the store needs. Only the signature checks (the costly middle stage) go
to worker processes, as
(signing input, signatures) pairs, so that verification uses every core while the event loop
keeps serving. Small batches are verified inline: a worker round trip costs more than the work.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
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
INLINE_BELOW = 24

Job = tuple[bytes, tuple[Signature, ...]]  # (signing input, signatures)


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


@dataclass(frozen=True)
class Checked:
    """The outcome of validation (all of section 4) for one wire form: a record, or the refusal."""

    record: Record | None
    refusal: Rejected | None


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
        self._pool = ProcessPoolExecutor(count) if count > 0 else None
        self._workers = count
        self.queued = 0  # signatures waiting for or in verification (a metric)

    async def check(
        self, wires: list[bytes], now_ms: int, policy: Policy = ALLOW_ALL
    ) -> list[Checked]:
        """``protocol.validate``'s three stages for each of ``wires``, the middle one in workers."""
        parsed: list[Record | Rejected] = []
        for wire in wires:
            try:
                record = check_before_signatures(wire)
            except Rejected as exc:
                parsed.append(exc)
            else:
                parsed.append(record)
        jobs = [(r.signing_input, r.sigs) for r in parsed if isinstance(r, Record)]
        self.queued += len(jobs)
        try:
            failures = iter(await self._verify(jobs))
        finally:
            self.queued -= len(jobs)
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

    async def _verify(self, jobs: list[Job]) -> list[str | None]:
        if self._pool is None or len(jobs) < INLINE_BELOW:
            return _verify_jobs(jobs, self.signatures.name)
        loop = asyncio.get_running_loop()
        parts = max(1, min(self._workers * 2, len(jobs) // INLINE_BELOW))
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
