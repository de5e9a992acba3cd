"""Validation of batches of records, with signature verification off the event loop.

Steps 1-3 of PROTOCOL-v1 section 4 (size, encoding, schema) and the signer-set half of step 4
run here, in the node's process: they are cheap, and they give the ``Record`` values the store
needs. Only the signature checks (the costly half of step 4) go to worker processes, as
(signing input, signatures) pairs, so that verification uses every core while the event loop
keeps serving. Small batches are verified inline: a worker round trip costs more than the work.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from crypto.verifiers import SignatureVerifier, by_name, fastest
from protocol.errors import Rejected, SignatureError
from protocol.record import Record, Signature
from protocol.validate import check_signer_set, check_time, parse, verify_each

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
    """The outcome of steps 1-5 for one wire form: a record, or the refusal."""

    record: Record | None
    refusal: Rejected | None


class Verifier:
    """Checks batches of wire records; signatures by ``signatures`` (default: the fastest)."""

    def __init__(
        self, workers: int | None = None, signatures: SignatureVerifier | None = None
    ) -> None:
        self.signatures = signatures or fastest()
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(count) if count > 0 else None
        self._workers = count

    async def check(self, wires: list[bytes], now_ms: int) -> list[Checked]:
        parsed: list[Record | Rejected] = []
        for wire in wires:
            try:
                record = parse(wire)
                check_signer_set(record)
            except Rejected as exc:
                parsed.append(exc)
            else:
                parsed.append(record)
        jobs = [(r.signing_input, r.sigs) for r in parsed if isinstance(r, Record)]
        failures = iter(await self._verify(jobs))
        out: list[Checked] = []
        for item in parsed:
            if isinstance(item, Rejected):
                out.append(Checked(None, item))
                continue
            failure = next(failures)
            try:
                if failure is not None:
                    raise SignatureError(failure)
                check_time(item, now_ms)
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
