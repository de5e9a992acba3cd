"""The in-memory tables fed by strangers level off, against a node process.

A node with small bounds (500 learned node keys, a replay cache of 2,000 signatures that live
2 s, a peer table of 4 x 8 rows) is fed three equal phases of new entries: organisation
profiles each naming two new node keys and URLs (node keys learned from profiles, the
learned-peer table), and requests signed by new node keys (the replay cache, unknown signers).
Every phase brings more entries than any bound holds. After each phase the test reads the
tables' sizes (``rakuichi_table_entries`` in /metrics), the peer table and the node's resident
memory: every table stays within its bound, and memory grows by less than ``LEVEL_MIB`` per
phase once the tables are full (the records themselves are stored: SQLite's page cache, up to
16 MiB per connection, grows with the database, about 2.5 MiB per phase here).

Before the fix the learned-peer table overshot its bound (33 rows of 32: concurrent learning
tasks each saw room).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from node.transport import sign_request
from tests.support import fresh_key, now_ms, org_profile
from tests.support.nodes import NodeProcess, make_home

MSGPACK = {"Content-Type": "application/msgpack"}
PHASES = 3
PROFILES = 400  # per phase, two node keys each: 800 > 500 learned keys
SIGNED = 2500  # signed requests per phase, each by a new key: > 2,000 replay entries
LEVEL_MIB = 6.0
BOUNDS = {"learned_keys": 500, "retired_keys": 500, "org_node_keys": 500, "replay_cache": 2000}
MAX_PEERS = 8


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_tables_fed_by_strangers_level_off(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path,
        "target",
        learn_peers=True,
        max_peers=MAX_PEERS,
        learned_keys=500,
        replay_cache_size=2000,
        signature_max_age=2,
        rate_limit=0.0,
        push_interval=0.5,
        anti_entropy_interval=5.0,
    )
    proc = node_process(home)
    await proc.await_ready()
    url = proc.url
    rss: list[float] = []
    tables: list[dict[str, float]] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:

        async def post_profile(n: int) -> None:
            nodes = [
                {"key": fresh_key().public_key.raw, "url": f"http://127.0.0.1:9/p{n}/n{i}"}
                for i in range(2)
            ]
            profile = org_profile(fresh_key(), now_ms(), name=f"Stranger {n}", nodes=nodes)
            async with session.post(url + "/v1/records", data=profile.wire, headers=MSGPACK) as r:
                assert r.status == 201, await r.text()

        async def signed_get() -> None:
            target = url + "/.well-known/rakuichi"
            headers = sign_request(
                fresh_key(), method="GET", url=target, headers={}, body=b"", now=int(time.time())
            )
            async with session.get(target, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1

        for phase in range(PHASES):
            for start in range(0, PROFILES, 20):
                await asyncio.gather(
                    *(post_profile(phase * PROFILES + n) for n in range(start, start + 20))
                )
            for _ in range(0, SIGNED, 50):
                await asyncio.gather(*(signed_get() for _ in range(50)))
            await asyncio.sleep(2.5)  # the phase's signatures expire
            rss.append(rss_mib(proc.pid))
            async with session.get(url + "/metrics") as r:
                metrics = await r.text()
            tables.append(
                {
                    m[1]: float(m[2])
                    for m in re.finditer(r'rakuichi_table_entries\{table="(\w+)"\} (\S+)', metrics)
                }
            )
        async with session.get(url + "/v1/peers") as r:
            table = (await r.json())["peers"]
    print(
        f"\n{PHASES} phases of {PROFILES} profiles (x2 node keys) and {SIGNED} signed requests "
        f"in {time.monotonic() - started:.0f} s: RSS after each {[f'{m:.1f}' for m in rss]} MiB; "
        f"peer table {len(table)} rows; signed answers {statuses}; tables {tables}"
    )
    assert len(table) <= 4 * MAX_PEERS
    for sizes in tables:
        for name, bound in BOUNDS.items():
            assert sizes[name] <= bound, (name, sizes)
        assert sizes["learning_slots"] <= 4 * MAX_PEERS, sizes
    assert tables[-1]["learned_keys"] == BOUNDS["learned_keys"]  # full: the stream reached it
    growth = [b - a for a, b in itertools.pairwise(rss)]
    assert max(growth) < LEVEL_MIB, rss
