"""converge: node processes on 127.0.0.1 in a random topology of 3 peers each.

Records are published at random nodes; a record's time to converge is the last ``received``
stamp among the nodes minus the first (every node stamps a record with the shared system
clock when it stores it). Limit: the topology's diameter (hops) x the push interval. Then the
nodes are split into two halves (each drops its peers in the other half), each half gets its own
records, and once the full topology is back the time until all hold the same set is counted in
anti-entropy intervals.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.common import Deadline, Options, Row, median, report, spread
from benchmarks.nodes import NodeProcess, make_home
from benchmarks.records import fresh
from node.config import load_config
from node.federation.peersfile import SeedPeer, write_peers
from node.transport import NodeClient, timeouts
from protocol import kinds
from protocol.validate import parse

DEGREE = 3
PUSH_INTERVAL = 0.5
ANTI_ENTROPY_INTERVAL = 2.0
SETTLE = 1.6  # seconds for every node to notice a new peers.toml (it looks every second)


def topology(n: int, rng: random.Random) -> list[set[int]]:
    """A connected random graph where every node has DEGREE peers (n * DEGREE even)."""
    for _ in range(1000):
        stubs = [i for i in range(n) for _ in range(DEGREE)]
        rng.shuffle(stubs)
        edges = {tuple(sorted(stubs[i : i + 2])) for i in range(0, len(stubs), 2)}
        if len(edges) * 2 != len(stubs) or any(a == b for a, b in edges):
            continue
        peers: list[set[int]] = [set() for _ in range(n)]
        for a, b in edges:
            peers[a].add(b)
            peers[b].add(a)
        if diameter(peers) < n:
            return peers
    raise RuntimeError("no connected topology found")


def diameter(peers: list[set[int]]) -> int:
    """Longest shortest path in hops (n when the graph is not connected)."""
    worst = 0
    for start in range(len(peers)):
        hops = {start: 0}
        todo = deque([start])
        while todo:
            at = todo.popleft()
            for nxt in peers[at]:
                if nxt not in hops:
                    hops[nxt] = hops[at] + 1
                    todo.append(nxt)
        if len(hops) < len(peers):
            return len(peers)
        worst = max(worst, *hops.values())
    return worst


def set_topology(homes: list[Path], urls: list[str], peers: list[set[int]]) -> None:
    for home, mine in zip(homes, peers, strict=True):
        write_peers(home / "peers.toml", [SeedPeer(urls[j]) for j in sorted(mine)])


def stamps(home: Path, ids: list[bytes]) -> dict[bytes, tuple[int, bool]]:
    """``received`` of each of ``ids`` the node holds, and whether it is live (not erased)."""
    db = sqlite3.connect(f"file:{load_config(home).database_path}?mode=ro", uri=True, timeout=10)
    try:
        found: dict[bytes, tuple[int, bool]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            found.update(
                (rid, (received, live))
                for rid, received, live in db.execute(
                    f"SELECT id, received, wire IS NOT NULL FROM records"
                    f" WHERE id IN ({','.join('?' * len(part))})",
                    part,
                )
            )
        return found
    finally:
        db.close()


async def wait_converged(
    homes: list[Path], published: Published, seconds: float
) -> list[dict[bytes, tuple[int, bool]]] | None:
    """Poll until every node holds every published record that no published retract targets
    and the nodes agree on which published records are live. (A retract's target need not
    reach everyone: once erased it is no longer offered, and the retract erases it anyway.)"""
    deadline = Deadline(seconds)
    while True:
        held = [await asyncio.to_thread(stamps, h, published.ids) for h in homes]
        live = [{i for i, (_, alive) in h.items() if alive} for h in held]
        if all(published.required <= h.keys() for h in held) and all(
            x == live[0] for x in live[1:]
        ):
            return held
        if deadline.passed:
            return None
        await asyncio.sleep(0.1)


@dataclass
class Published:
    ids: list[bytes] = field(default_factory=list)
    targets: set[bytes] = field(default_factory=set)  # ids a published retract erases

    @property
    def required(self) -> set[bytes]:
        return set(self.ids) - self.targets

    def __add__(self, other: Published) -> Published:
        return Published(self.ids + other.ids, self.targets | other.targets)


async def publish(
    session: aiohttp.ClientSession,
    urls: list[str],
    wires: list[bytes],
    rng: random.Random,
    spacing: float,
) -> Published:
    out = Published()
    for wire in wires:
        await NodeClient(rng.choice(urls), session).post_record(wire)
        record = parse(wire)
        out.ids.append(record.id)
        if record.kind == kinds.RETRACT:
            out.targets.add(record.body["target"])
        await asyncio.sleep(spacing)
    return out


async def _run(options: Options, scratch: Path) -> tuple[list[Row], dict[str, object]]:
    n, count = (6, 20) if options.quick else (20, 100)
    homes = [
        make_home(
            scratch,
            f"n{i}",
            learn_peers=False,
            push_interval=PUSH_INTERVAL,
            anti_entropy_interval=ANTI_ENTROPY_INTERVAL,
            max_backoff=2.0,
        )
        for i in range(n)
    ]
    nodes = [NodeProcess(h) for h in homes]
    urls = [p.url for p in nodes]
    rng = random.Random("converge")
    p50s, p99s, limits, heals, heal_limits = [], [], [], [], []
    diameters: list[int] = []
    heal_seconds: list[float] = []
    async with aiohttp.ClientSession(timeout=timeouts(30, 10)) as session:
        for r in range(options.rounds):
            peers = topology(n, rng)
            hops = diameter(peers)
            diameters.append(hops)
            set_topology(homes, urls, peers)
            if r == 0:
                for p in nodes:
                    p.start()
                await asyncio.gather(*(p.ready(session, 120) for p in nodes))
            await asyncio.sleep(SETTLE)  # every node has read its peers.toml
            wires = fresh(count, int(time.time() * 1000), f"converge:{r}:{time.time()}")
            published = await publish(session, urls, wires, rng, 0.05)
            held = await wait_converged(homes, published, 60)
            if held is None:
                raise RuntimeError("records did not reach every node within 60 s")
            spans = sorted(
                (max(h[i][0] for h in held) - min(h[i][0] for h in held)) / 1000
                for i in published.required
            )
            p50s.append(spans[len(spans) // 2])
            p99s.append(spans[min(len(spans) - 1, int(0.99 * len(spans)))])
            limits.append(hops * PUSH_INTERVAL)
            rounds, seconds = await partition_and_heal(session, homes, urls, peers, count, r)
            heals.append(rounds)
            heal_seconds.append(seconds)
            heal_limits.append(3.0)
    rows = [
        Row(
            "publish → on all nodes, p50",
            "s",
            p50s,
            "diameter x push interval",
            "s",
            limits,
            "informational",
        ),
        Row(
            "publish → on all nodes, p99",
            "s",
            p99s,
            "diameter x push interval",
            "s",
            limits,
            "≤ 1.5x limit",
        ),
        Row(
            "partition healed (anti-entropy rounds)",
            "rounds",
            heals,
            "target",
            "rounds",
            heal_limits,
            "≤ 3 rounds",
        ),
    ]
    rows[1].met = median(rows[1].ratios) <= 1.5
    rows[2].met = max(heals) <= 3
    rows[0].also = f"diameter {'/'.join(map(str, diameters))} hops"
    rows[2].also = f"healed in {spread(heal_seconds, 's')}"
    return rows, {
        "nodes": n,
        "records": count,
        "degree": DEGREE,
        "push_interval": PUSH_INTERVAL,
        "anti_entropy_interval": ANTI_ENTROPY_INTERVAL,
        "diameters": diameters,
    }


async def partition_and_heal(
    session: aiohttp.ClientSession,
    homes: list[Path],
    urls: list[str],
    peers: list[set[int]],
    count: int,
    r: int,
) -> tuple[float, float]:
    """Anti-entropy intervals from healing a two-halves partition until every node holds
    every record (the first sync with a returning peer is immediate: round 1)."""
    n = len(homes)
    half = set(range(n // 2))
    split = [{j for j in mine if (j in half) == (i in half)} for i, mine in enumerate(peers)]
    set_topology(homes, urls, split)
    await asyncio.sleep(SETTLE)
    rng = random.Random(f"partition:{r}")
    sides = [[urls[i] for i in range(n) if i in half], [urls[i] for i in range(n) if i not in half]]
    halves = [
        [homes[i] for i in range(n) if i in half],
        [homes[i] for i in range(n) if i not in half],
    ]
    published = Published()
    for s, side in enumerate(sides):
        wires = fresh(count // 2, int(time.time() * 1000), f"partition:{r}:{s}:{time.time()}")
        own = await publish(session, side, wires, rng, 0.0)
        published += own
        # each half settles on its own (bounded: a half need not be connected)
        await wait_converged(halves[s], own, 2 * ANTI_ENTROPY_INTERVAL)
    set_topology(homes, urls, peers)
    healed_at = time.monotonic()
    held = await wait_converged(homes, published, 60)
    if held is None:
        raise RuntimeError("partition not healed within 60 s")
    seconds = time.monotonic() - healed_at
    return 1 + seconds // ANTI_ENTROPY_INTERVAL, seconds


def run(options: Options) -> list[Row]:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-converge-") as scratch:
        try:
            rows, params = asyncio.run(_run(options, Path(scratch)))
        finally:
            NodeProcess.stop_all()
    notes = [
        f"{params['nodes']} node processes, learn_peers=false, push_interval "
        f"{PUSH_INTERVAL} s, anti_entropy_interval {ANTI_ENTROPY_INTERVAL} s; "
        f"{params['records']} records per round published 50 ms apart at random nodes",
        "partition: each node drops its peers in the other half (peers.toml, reloaded "
        "live); healing restores them: a returning peer is synced at once (round 1), "
        "then one anti-entropy interval per further round; the time the node takes to "
        "notice peers.toml (≤ 1 s) counts against it",
        f"p99 of {params['records']} records is their worst but one"
        if not options.quick
        else "quick: few records",
    ]
    return report("converge", options, rows, params, started, notes)
