"""Signature verification on the way in (node/verifier.py): records already held with the same
bytes are not verified again, anything else is; concurrent submissions are verified together."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgpack

from node.clock import SystemClock
from node.ingest import Ingestor
from node.verifier import Verifier
from protocol import ALLOW_ALL, Record
from tests.support import (
    Cast,
    NodeProcess,
    fresh_key,
    make_home,
    member_profile,
    now_ms,
    unknown_kind,
)
from tests.support.stores import Engine


def _with_signature_bit_flipped(record: Record) -> bytes:
    """The record's wire bytes with one bit of its (last) signature flipped: same id."""
    wire = bytearray(record.wire)
    signature = record.sigs[-1][1]
    at = bytes(wire).rindex(signature)
    wire[at + 10] ^= 0x01
    return bytes(wire)


async def test_held_records_are_not_verified_again_unless_their_bytes_differ(
    engine: Engine,
) -> None:
    store = await engine.open(await engine.fresh("verify-held"))
    verifier = Verifier(workers=0)
    ingestor = Ingestor(store, verifier, SystemClock(), lambda: ALLOW_ALL)
    try:
        cast, t0 = Cast.fresh(), now_ms() - 60_000
        records = [member_profile(cast.member, t0 + i, name=f"Aiko {i}") for i in range(5)]
        first = await ingestor.submit([r.wire for r in records])
        assert [o.stored for o in first] == [True] * 5
        assert verifier.skipped == 0

        again = await ingestor.submit([r.wire for r in records])
        assert [(o.stored, o.refusal) for o in again] == [(False, None)] * 5
        assert verifier.skipped == 5  # the same bytes: not verified a second time

        forged = _with_signature_bit_flipped(records[0])
        (outcome,) = await ingestor.submit([forged])
        assert outcome.refusal is not None and outcome.refusal.klass == "signature"
        assert verifier.skipped == 5  # other bytes under a held id: verified, and refused
        row = await store.get_record(records[0].id)
        assert row is not None and row.wire == records[0].wire  # the held bytes are kept
    finally:
        verifier.close()
        await store.close()


async def test_concurrent_submissions_are_verified_together_with_every_verdict_kept(
    engine: Engine,
) -> None:
    store = await engine.open(await engine.fresh("verify-turn"))
    verifier = Verifier(workers=2)
    ingestor = Ingestor(store, verifier, SystemClock(), lambda: ALLOW_ALL)
    try:
        cast, t0 = Cast.fresh(), now_ms() - 60_000
        good = [member_profile(cast.member, t0 + i, name=f"Ren {i}") for i in range(40)]
        bad = {i: _with_signature_bit_flipped(good[i]) for i in (3, 17, 31)}
        wires = [bad.get(i, r.wire) for i, r in enumerate(good)]
        outcomes = await asyncio.gather(*(ingestor.submit([w]) for w in wires))
        for i, (outcome,) in enumerate(outcomes):
            if i in bad:
                assert outcome.refusal is not None and outcome.refusal.klass == "signature"
                assert await store.get_record(good[i].id) is None
            else:
                assert outcome.refusal is None and outcome.stored, i
    finally:
        verifier.close()
        await store.close()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


async def test_verifier_workers_hold_no_socket_and_die_with_their_node(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    """A worker forked from the node keeps none of its sockets (a killed PostgreSQL worker's
    verifier processes held its leader-lock connection), and dies when the node is killed."""
    proc = node_process(make_home(tmp_path, "workers"))
    await proc.await_ready()
    author, t0 = fresh_key(), now_ms() - 60_000
    records = [unknown_kind(author, t0 + i, "x.tick", n=i) for i in range(50)]  # to the workers
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            proc.url + "/v1/records",
            data=msgpack.packb([r.wire for r in records], use_bin_type=True),
            headers={"Content-Type": "application/msgpack"},
        ) as response,
    ):
        assert response.status == 200
        assert all(o["stored"] for o in (await response.json())["results"])
    workers = _children(proc.pid)
    assert workers, "no verifier worker was started"
    for pid in workers:
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        assert not [t for t in targets if t.startswith("socket:")], (pid, targets)
    os.kill(proc.pid, signal.SIGKILL)  # the node alone, not its process group
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"verifier workers outlived their node: {workers}"
        await asyncio.sleep(0.1)
