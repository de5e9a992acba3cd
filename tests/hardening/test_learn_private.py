"""Learned peers at private addresses are not contacted (``learn_private`` off), configured
ones are, against a node process.

Two counting servers listen on 127.0.0.1: one listed in the node's peers.toml, one only named
in an organisation's profile posted to the node (a learned peer). Before the fix the node
contacted the learned one as readily as the configured one (a stranger's profile could point
it at anything on the operator's own network). Now the check is made on the address each
socket connects to: the configured peer is contacted, the learned one never is, and
/v1/peers shows it failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import fresh_key, now_ms, org_profile
from tests.support.countingpeer import CountingPeer
from tests.support.federation import set_peers, wait_for
from tests.support.nodes import NodeProcess, make_home

MSGPACK = {"Content-Type": "application/msgpack"}


async def test_learned_private_peer_is_never_contacted(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    configured, learned = CountingPeer(), CountingPeer()
    await configured.start()
    await learned.start()
    try:
        home = make_home(
            tmp_path,
            "target",
            learn_private=False,
            learn_peers=True,
            push_interval=0.2,
            anti_entropy_interval=0.5,
            max_backoff=1.0,
        )
        set_peers(home, [configured.url])
        proc = node_process(home)
        await proc.await_ready()
        stranger = fresh_key()
        profile = org_profile(
            stranger,
            now_ms(),
            name="Stranger",
            nodes=[{"key": learned.key.public_key.raw, "url": learned.url}],
        )
        async with aiohttp.ClientSession() as session:
            records = proc.url + "/v1/records"
            posted = await session.post(records, data=profile.wire, headers=MSGPACK)
            assert posted.status == 201, await posted.text()

            async def learned_row() -> dict[str, Any] | None:
                async with session.get(proc.url + "/v1/peers") as response:
                    rows = (await response.json())["peers"]
                row = next((r for r in rows if r["url"] == learned.url), None)
                return row if row is not None and row["failures"] >= 2 else None

            row = await wait_for(learned_row, 30, "the learned peer tried and refused twice")
            await wait_for(
                lambda: _true(configured.requests > 0), 30, "the configured peer contacted"
            )
            await asyncio.sleep(1.0)  # more sender and anti-entropy turns
    finally:
        await configured.stop()
        await learned.stop()
    print(
        f"\nconfigured peer got {configured.requests} request(s) {dict(configured.seen)}; "
        f"learned 127.0.0.1 peer got {learned.requests}; its /v1/peers error: {row['error']!r}"
    )
    assert configured.requests > 0
    assert learned.requests == 0, dict(learned.seen)
    assert row["source"] == "learned"


async def _true(value: bool) -> bool:
    return value
