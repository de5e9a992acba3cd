"""A node of two worker processes on PostgreSQL (``rakuichi run --workers 2``).

Workers killed with SIGKILL during ingest lose no acknowledged record; the parent replaces
them; and whichever worker ran the federation, a peer keeps receiving the node's records after
each original worker has been killed (so the leader was killed, and another took over).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from node.config import load_config
from protocol import Record
from tests.support import Cast, now_ms, opportunity
from tests.support.federation import (
    Api,
    federation_home,
    http_session,
    set_peers,
    start_processes,
    wait_for,
)
from tests.support.nodes import NodeProcess
from tests.support.stores import Engine

pytestmark = pytest.mark.slow
MSGPACK = "application/msgpack"


def workers_of(proc: NodeProcess) -> set[int]:
    """The parent's children: its worker processes."""
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    return {int(pid) for pid in path.read_text().split()}


async def post_one(session: aiohttp.ClientSession, url: str, record: Record) -> bool:
    """Whether the node acknowledged the record (stored or already held)."""
    try:
        async with session.post(
            f"{url}/v1/records", data=record.wire, headers={"Content-Type": MSGPACK}
        ) as response:
            return response.status in (200, 201)
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def every_worker_shows_the_peer(url: str, peer_url: str) -> None:
    """``/v1/peers`` answers the same peer whichever worker takes the connection (each GET on
    a new connection: the kernel spreads them over the workers sharing the socket)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(40):
            async with session.get(f"{url}/v1/peers") as response:
                table = (await response.json())["peers"]
            assert [row["url"] for row in table] == [peer_url], table
            assert table[0]["last_success"], table


async def test_two_workers_survive_kills_and_keep_federating(
    tmp_path: Path, postgres_server_dsn: str
) -> None:
    engine = Engine("postgresql", tmp_path, postgres_server_dsn)
    pg_home = federation_home(tmp_path, "pg", storage_url=await engine.fresh("workers"))
    peer_home = federation_home(tmp_path, "peer", anti_entropy_interval=3600.0)  # push only
    pg_url, peer_url = load_config(pg_home).public_url, load_config(peer_home).public_url
    set_peers(pg_home, [peer_url])
    set_peers(peer_home, [pg_url])
    pg = NodeProcess(pg_home, ["--workers", "2"]).start()
    (peer,) = await start_processes([peer_home])
    await pg.await_ready(30)
    await wait_for(lambda: asyncio.to_thread(lambda: len(workers_of(pg)) == 2), 20, "2 workers")
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    acknowledged: list[Record] = []

    async with http_session() as session:
        api = Api(session)
        originals = sorted(workers_of(pg))
        for round_, victim in enumerate(originals):
            batch = [
                opportunity(cast.org, t0 + round_ * 1000 + i, slug=f"r{round_}-{i}")
                for i in range(60)
            ]
            tasks = [asyncio.create_task(post_one(session, pg_url, r)) for r in batch]
            await asyncio.sleep(0.05)
            os.kill(victim, signal.SIGKILL)  # during ingest
            results = await asyncio.gather(*tasks)
            acknowledged += [r for r, ok in zip(batch, results, strict=True) if ok]

            async def replaced(victim: int = victim) -> bool:
                now = workers_of(pg)
                return victim not in now and len(now) == 2

            await wait_for(replaced, 20, f"worker {victim} replaced")
            marker = opportunity(cast.org, t0 + round_ * 1000 + 999, slug=f"marker-{round_}")
            assert await post_one(session, pg_url, marker)
            acknowledged.append(marker)
            await wait_for(
                lambda m=marker: api.has(peer_url, m.id.hex()),
                30,
                f"the node's record at its peer after worker {victim} was killed",
            )
        await every_worker_shows_the_peer(pg_url, peer_url)
        held = await api.record_ids(pg_url)
        missing = [r.id.hex() for r in acknowledged if r.id.hex() not in held]
        assert not missing, f"{len(missing)} acknowledged records lost: {missing[:3]}"
        assert set(workers_of(pg)).isdisjoint(originals)

    assert pg.terminate() == 0
    peer.terminate()
