"""A few profiles cannot fill the learned-peer table, against a node process.

Four organisations each publish two profiles naming 16 peer URLs each (the most a profile
may name) that never answer. Before the
fix the node learned them all up to its table's bound (4 x ``max_peers`` = 32 rows here), so
that an honest organisation's peer published next was not learned at all. Now each
organisation takes one learning slot: 4 rows; the honest peer is learned and contacted; and
the flood's rows, which never answer, age out after ``learned_peer_ttl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import fresh_key, now_ms, org_profile
from tests.support.countingpeer import CountingPeer
from tests.support.federation import wait_for
from tests.support.nodes import NodeProcess, make_home

MSGPACK = {"Content-Type": "application/msgpack"}
FLOOD_ORGS, PROFILES_EACH, URLS_EACH = 4, 2, 16
TTL = 3.0


async def test_a_few_profiles_cannot_fill_the_learned_table(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    honest = CountingPeer()
    await honest.start()
    try:
        home = make_home(
            tmp_path,
            "target",
            learn_peers=True,
            max_peers=8,
            learned_peer_ttl=TTL,
            push_interval=0.2,
            anti_entropy_interval=0.5,
        )
        proc = node_process(home)
        await proc.await_ready()
        async with aiohttp.ClientSession() as session:

            async def post(profile: Any) -> None:
                async with session.post(
                    proc.url + "/v1/records", data=profile.wire, headers=MSGPACK
                ) as response:
                    assert response.status == 201, await response.text()

            async def learned() -> set[str]:
                async with session.get(proc.url + "/v1/peers") as response:
                    rows = (await response.json())["peers"]
                return {r["url"] for r in rows if r["source"] == "learned"}

            flood = set()
            t0 = now_ms()
            for n in range(FLOOD_ORGS):
                org = fresh_key()
                for p in range(PROFILES_EACH):
                    nodes = [
                        {
                            "key": fresh_key().public_key.raw,
                            "url": f"http://127.0.0.1:9/o{n}/p{p}/n{i}",
                        }
                        for i in range(URLS_EACH)
                    ]
                    flood |= {node["url"] for node in nodes}
                    await post(org_profile(org, t0 + p, name=f"Flood {n}", nodes=nodes))
            await wait_for(learned, 20, "peers learned from the flood")
            time.sleep(1.0)  # let every profile's learning run
            after_flood = await learned()
            await post(
                org_profile(
                    fresh_key(),
                    now_ms(),
                    name="Honest",
                    nodes=[{"key": honest.key.public_key.raw, "url": honest.url}],
                )
            )
            contacted = await _poll(lambda: honest.requests > 0, 20)

            async def flood_forgotten() -> bool:
                return not (await learned()) & flood

            started = time.monotonic()
            await wait_for(flood_forgotten, 40, "the flood's silent peers aged out")
            aged = time.monotonic() - started
    finally:
        await honest.stop()
    print(
        f"\n{FLOOD_ORGS} organisations x {PROFILES_EACH} profiles x {URLS_EACH} URLs -> "
        f"{len(after_flood & flood)} learned rows; "
        f"honest peer contacted: {contacted} ({honest.requests} requests); flood aged out "
        f"{aged:.1f} s later (TTL {TTL} s)"
    )
    assert len(after_flood & flood) == FLOOD_ORGS
    assert contacted


async def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    try:
        await wait_for(lambda: _true(condition()), timeout, "condition")
    except AssertionError:
        return False
    return True


async def _true(value: bool) -> bool:
    return value
