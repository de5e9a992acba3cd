"""sync: reconciliation of two sets sharing N records and differing in d on each side.

Over HTTP against a node process answering ``/v1/sync`` (bytes are the HTTP bodies, both ways)
and at the protocol level (``Initiator`` against ``respond`` over ``MemoryItemSet``, what the
node runs) for the biggest N. Nothing moves but reconciliation messages, so every byte counted
is a reconciliation byte. The limit for bytes is sending every id: 32 B x N.
"""

from __future__ import annotations

import asyncio
import copy
import random
import sqlite3
import time

import aiohttp

from benchmarks.common import Options, Row, report, spread
from benchmarks.nodes import NodeProcess, set_value
from benchmarks.stores import big_store, cached_store
from node.config import load_config
from node.federation.antientropy import reconcile
from node.transport import NodeClient, timeouts
from protocol.itemset import Item, MemoryItemSet
from protocol.reconcile import Initiator, respond

DIFFS = (0, 1, 10, 100, 1000)
PATTERNS = ("recent", "scattered")
YEAR_MS = 365 * 86_400_000


def clone(items: MemoryItemSet) -> MemoryItemSet:
    """A copy sharing the immutable blocks (``add`` replaces a block, never changes one)."""
    twin = copy.copy(items)
    for name in ("_blocks", "_sums", "_cum", "_psum"):
        setattr(twin, name, list(getattr(items, name)))
    return twin


def fake_items(rng: random.Random, count: int, pattern: str, lo: int, hi: int) -> list[Item]:
    """Items in neither set: newer than everything (recent) or anywhere in [lo, hi]."""
    if pattern == "recent":
        return [(hi + 1 + rng.randrange(60_000), rng.randbytes(32)) for _ in range(count)]
    return [(rng.randrange(lo, hi + 1), rng.randbytes(32)) for _ in range(count)]


def target(d: int, pattern: str, n: int) -> tuple[str, int, int | None]:
    """(text, byte bound, round-trip bound) of a configuration's target; a difference is a
    record one side holds and the other lacks, so d on each side make 2d differences."""
    if d == 0:
        return "1 rt, ≤ 512 B", 512, 1
    if pattern == "recent":
        bound = 2048 + 64 * 2 * d
        return f"≤ 4 rt, ≤ {min(bound, 32 * n):,} B", min(bound, 32 * n), 4
    bound = 2560 * 2 * d
    return f"≤ {min(bound, 32 * n):,} B", min(bound, 32 * n), None


def verdict(row: Row, rts: list[int], bound: int, rt_bound: int | None, d: int) -> None:
    worst = max(row.values)
    row.met = worst <= bound and (rt_bound is None or max(rts) <= rt_bound)
    row.also = f"rt {spread(rts)}"
    if d:
        row.also += f"; {max(row.values) / (2 * d):.0f} B/difference (worst)"
    row.extra["round_trips"] = rts


def configs(quick: bool = False) -> list[tuple[int, str]]:
    diffs = [d for d in DIFFS if d and (d < 1000 or not quick)]
    return [(0, "-")] + [(d, p) for p in PATTERNS for d in diffs]


async def over_http(options: Options, n: int) -> list[Row]:
    home = await cached_store(options.work, n, at_least=big_store(options))
    # one client runs hundreds of sessions here: the per-peer session budget (one full
    # session per anti-entropy interval, a defence tested in tests/hardening) is opened up
    set_value(home, "federation", "anti_entropy_interval", 0.01)
    node = NodeProcess(home).start()
    results: dict[tuple[int, str], tuple[list[float], list[int]]] = {
        c: ([], []) for c in configs(options.quick)
    }
    try:
        async with aiohttp.ClientSession(timeout=timeouts(60, 10)) as session:
            await node.ready(session)
            await node.sync_ready(session)  # (its own profile is stored by now)
            db = sqlite3.connect(f"file:{load_config(home).database_path}?mode=ro", uri=True)
            held = db.execute(
                "SELECT created, id FROM records WHERE wire IS NOT NULL ORDER BY created, id"
            ).fetchall()  # the node's live set
            db.close()
            lo, hi = held[0][0], held[-1][0]
            for r in range(options.rounds):
                for d, pattern in configs(options.quick):
                    rng = random.Random(f"http:{r}:{d}:{pattern}")
                    if pattern == "recent":
                        lacking = set(range(len(held) - d, len(held)))
                    else:
                        lacking = set(rng.sample(range(len(held)), d))
                    ours = [item for i, item in enumerate(held) if i not in lacking]
                    extra = fake_items(rng, d, pattern, lo, hi)
                    local = MemoryItemSet(ours + extra)
                    client = NodeClient(node.url, session)
                    result = await reconcile(client, local)
                    assert result.have == {held[i][1] for i in lacking}
                    assert result.need == {i for _, i in extra}
                    assert client.round_trips == result.rounds
                    results[(d, pattern)][0].append(client.bytes_sent + client.bytes_received)
                    results[(d, pattern)][1].append(client.round_trips)
    finally:
        node.stop()
    return _rows(f"http N={len(held):,}", len(held), results)


def over_protocol(options: Options, n: int) -> list[Row]:
    rng = random.Random("protocol-base")
    hi = 1_735_689_600_000
    lo = hi - YEAR_MS
    base = MemoryItemSet(sorted((rng.randrange(lo, hi), rng.randbytes(32)) for _ in range(n)))
    results: dict[tuple[int, str], tuple[list[float], list[int]]] = {
        c: ([], []) for c in configs(options.quick)
    }
    for r in range(options.rounds):
        for d, pattern in configs(options.quick):
            rng = random.Random(f"protocol:{r}:{d}:{pattern}")
            theirs, ours = clone(base), clone(base)
            only_theirs = fake_items(rng, d, pattern, lo, hi)
            only_ours = fake_items(rng, d, pattern, lo, hi)
            for created, id_ in only_theirs:
                theirs.add(created, id_)
            for created, id_ in only_ours:
                ours.add(created, id_)
            session = Initiator(ours)
            message: bytes | None = session.start()
            while message is not None:
                message = session.receive(respond(theirs, message))
            assert session.have == {i for _, i in only_theirs}
            assert session.need == {i for _, i in only_ours}
            results[(d, pattern)][0].append(session.bytes_sent + session.bytes_received)
            results[(d, pattern)][1].append(session.rounds)
    return _rows(f"protocol N={n + max(DIFFS):,}", n, results)


def _rows(
    label: str, n: int, results: dict[tuple[int, str], tuple[list[float], list[int]]]
) -> list[Row]:
    rows = []
    for (d, pattern), (sizes, rts) in results.items():
        text, bound, rt_bound = target(d, pattern, n)
        name = f"{label}, d=0" if d == 0 else f"{label}, {pattern}, d={d}"
        row = Row(name, "B", sizes, "32 B x N", "B", [32.0 * n] * len(sizes), f"{text}, ≤ 32 B x N")
        verdict(row, rts, bound, rt_bound, d)
        rows.append(row)
    return rows


def run(options: Options) -> list[Row]:
    started = time.time()
    http_n, proto_n = (2_000, 10_000) if options.quick else (100_000, 1_000_000)
    try:
        rows = asyncio.run(over_http(options, http_n))
    finally:
        NodeProcess.stop_all()
    rows += over_protocol(options, proto_n)
    notes = [
        "d records on each side differ, so 2d differences in all: targets are 2 KiB + 64 B"
        " x 2d (recent) and 2.5 KiB x 2d (scattered); 'also' shows bytes per difference",
        "http: the node holds N live records (tombstones are not in its sync set); the"
        " client lacks d of them and holds d it lacks (bytes: HTTP bodies both ways;"
        " headers are not counted)",
        "protocol: both sets hold the same N items plus d of their own",
    ]
    return report(
        "sync",
        options,
        rows,
        {"http_n": http_n, "protocol_n": proto_n, "diffs": list(DIFFS), "patterns": list(PATTERNS)},
        started,
        notes,
    )
