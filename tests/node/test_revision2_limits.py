"""Limits from docs/protocol.md section 14, fixed in revision 2: ``/v1/sync`` answers 422 or
413 (never 500) to any malformed or oversized message; the well-known document advertises the
node's body limit; outbox batches stay within a peer's limit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from node.service import Node
from node.storage.peers import BATCH_FRAMING, PeerTable, batch_budget
from protocol import Initiator, MemoryItemSet
from protocol.reconcile import DEFAULT_LIMITS
from tests.support import Cast, base_url, make_home, now_ms, running_node, unknown_kind

MSGPACK = "application/msgpack"
BODY_LIMIT = 400_000


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme", max_body_bytes=BODY_LIMIT)) as running:
        yield running


async def _post_sync(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    async with session.post(
        f"{url}/v1/sync", data=body, headers={"Content-Type": MSGPACK}
    ) as answer:
        await answer.read()
        return answer.status


async def test_sync_answers_422_or_413_never_500(node: Node) -> None:
    url = base_url(node)
    valid = Initiator(MemoryItemSet()).start()
    rng = random.Random(9)
    async with aiohttp.ClientSession() as session:
        for _ in range(100):  # the index loads in the background: 503 until then
            status = await _post_sync(session, url, valid)
            if status != 503:
                break
            await asyncio.sleep(0.05)
        assert status == 200
        bad: list[bytes] = [
            b"",
            b"\xc1",
            b"\x00",
            b"\x90",
            b"\x91\x01",
            valid[:-1],
            valid + b"\x00",
        ]
        for _ in range(150):  # random bytes, and valid messages with a byte changed
            bad.append(rng.randbytes(rng.randrange(1, 300)))
            changed = bytearray(valid)
            changed[rng.randrange(len(changed))] = rng.randrange(256)
            bad.append(bytes(changed))
        statuses = {}
        for body in bad:
            status = await _post_sync(session, url, body)
            statuses.setdefault(status, body)
        assert set(statuses) <= {200, 413, 422}, statuses  # a changed byte may still be valid
        assert 422 in statuses
        oversized = b"\xc4" + rng.randbytes(DEFAULT_LIMITS.max_message_bytes + 10)
        assert await _post_sync(session, url, oversized) == 413
        assert await _post_sync(session, url, b"\x00" * (BODY_LIMIT + 1)) == 413


async def test_well_known_advertises_the_body_limit(node: Node) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url(node)}/.well-known/rakuichi") as answer,
    ):
        identity = await answer.json()
    assert identity["max_body_bytes"] == BODY_LIMIT


async def test_outbox_batches_stay_within_the_peers_limit(node: Node) -> None:
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    big = [unknown_kind(cast.outsider, t0 + i, note="x" * 60_000) for i in range(12)]
    await node.store.add(big, now_ms())
    table = await PeerTable.open(node.config.database_path)
    try:
        budget = batch_budget(BODY_LIMIT)
        cursor, sent = 0, 0
        while True:
            batch, upto = await table.outbox(None, cursor, 500, budget)
            if not batch:
                break
            assert sum(len(w) + BATCH_FRAMING for _, w in batch) <= budget
            sent += len(batch)
            cursor = upto
        assert sent >= len(big)
        assert budget < 12 * 60_000  # the whole run in one batch would be refused (413)
    finally:
        await table.close()
