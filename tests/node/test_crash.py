"""Durability: what a node process acknowledged survives SIGKILL right after the acknowledgement."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgpack

from node.config import load_config
from tests.support import NodeProcess, fresh_key, make_home, now_ms, opportunity, unknown_kind

MSGPACK = "application/msgpack"


def integrity(database: Path) -> tuple[str, int]:
    """``PRAGMA integrity_check`` and the number of records, on a connection of our own."""
    db = sqlite3.connect(database)
    try:
        (check,) = db.execute("PRAGMA integrity_check").fetchone()
        (count,) = db.execute("SELECT count(*) FROM records").fetchone()
        return check, count
    finally:
        db.close()


async def test_acknowledged_records_survive_sigkill(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "durable")
    database = load_config(home).database_path
    proc = node_process(home)
    await proc.await_ready()
    author, org = fresh_key(), fresh_key()
    t0 = now_ms() - 600_000
    batches = [
        [unknown_kind(author, t0 + 100 * b + i, "x.tick", batch=b, n=i) for i in range(50)]
        for b in range(4)
    ]  # >= 24: checked in worker processes
    singles = [
        opportunity(org, t0 + 1000 + i, slug=f"role-{i}", title=f"Role {i}") for i in range(60)
    ]
    acknowledged: dict[bytes, bytes] = {}

    async with aiohttp.ClientSession() as session:

        async def post(data: bytes) -> dict:
            async with session.post(
                proc.url + "/v1/records", data=data, headers={"Content-Type": MSGPACK}
            ) as response:
                assert response.status in (200, 201), await response.text()
                return await response.json()

        async def post_batch(records: list) -> None:
            result = await post(msgpack.packb([r.wire for r in records], use_bin_type=True))
            for record, outcome in zip(records, result["results"], strict=True):
                assert outcome == {"id": record.id.hex(), "stored": True}
                acknowledged[record.id] = record.wire

        async def post_single(record) -> None:  # type: ignore[no-untyped-def]
            assert await post(record.wire) == {"id": record.id.hex(), "stored": True}
            acknowledged[record.id] = record.wire

        await asyncio.gather(*(post_batch(b) for b in batches), *(post_single(r) for r in singles))
        proc.kill()  # at once: no clean shutdown, no checkpoint
    assert proc.proc is not None and proc.proc.returncode == -9
    assert len(acknowledged) == 260

    assert (database.parent / (database.name + "-wal")).exists()  # recovery is the node's

    proc.restart()
    async with aiohttp.ClientSession() as session:
        for rid, wire in acknowledged.items():
            async with session.get(
                f"{proc.url}/v1/records/{rid.hex()}", headers={"Accept": MSGPACK}
            ) as response:
                assert response.status == 200, rid.hex()
                assert await response.read() == wire
    assert integrity(database) == ("ok", 260 + 1)  # and the node's own profile
    assert proc.terminate() == 0
    assert proc.output().count("node stopped") == 1  # the killed run never said so
    assert integrity(database) == ("ok", 260 + 1)


def test_leftover_node_processes_are_killed(tmp_path: Path) -> None:
    """What the autouse fixture relies on: a process a test forgot is found and killed."""
    forgotten = NodeProcess(make_home(tmp_path, "forgotten")).start()
    assert forgotten.running and forgotten in NodeProcess.live
    assert NodeProcess.kill_leftovers() == [forgotten.home]
    assert not forgotten.running and forgotten not in NodeProcess.live
    assert NodeProcess.kill_leftovers() == []
