"""query: reads from a node process over a small and a big store, under concurrent clients.

Limit: aiohttp's own minimal handler (``benchmarks.minimal``) in a process of its own, loaded
by the same client in the same round. Stores are built once through ``Store.add``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from benchmarks.common import REPO_ROOT, Options, Row, fmt, median, report
from benchmarks.http import LoadResult, Request, load
from benchmarks.nodes import NodeProcess, free_port, node_env
from benchmarks.records import WORDS, keys
from benchmarks.stores import big_store, cached_store
from node.config import load_config
from node.transport import timeouts
from protocol import kinds

CLIENTS = 8
SLICES = 5  # each store's requests are sent in this many slices, alternating with the other
QUERIES = ("by id", "by id (msgpack)", "by author", "by kind", "opportunity search", "reputation")
BY_ID = ("by id", "by id (msgpack)")
READS_TARGET = 0.5  # issue 16: reads by id, JSON and msgpack, at 10k and 1M records


def requests_for(home: Path, what: str, count: int, rng: random.Random) -> list[Request]:
    if what in BY_ID:
        db = sqlite3.connect(f"file:{load_config(home).database_path}?mode=ro", uri=True)
        (top,) = db.execute("SELECT max(seq) FROM records").fetchone()
        seqs = rng.sample(range(1, top + 1), min(top, count * 2))
        ids = [
            r[0]
            for r in db.execute(
                f"SELECT id FROM records WHERE wire IS NOT NULL AND seq IN "
                f"({','.join(map(str, seqs))})"
            )
        ]
        db.close()
        rng.shuffle(ids)
        paths = [f"/v1/records/{i.hex()}" for i in (ids * 2)[:count]]
        if what == "by id (msgpack)":
            return [("GET", p, b"", "Accept: application/msgpack\r\n") for p in paths]
    elif what == "by author":
        orgs = [k.public_key.did for k in keys().orgs]
        paths = [f"/v1/records?author={rng.choice(orgs)}&limit=100" for _ in range(count)]
    elif what == "by kind":
        names = [*kinds.KINDS, "x.note"]
        paths = [f"/v1/records?kind={rng.choice(names)}&limit=100" for _ in range(count)]
    elif what == "opportunity search":
        paths = [f"/v1/opportunities?q={rng.choice(WORDS)}" for _ in range(count)]
    else:
        busy = keys().busy_member.public_key.did
        paths = [f"/v1/reputation/{busy}"] * count
    return [("GET", p, b"", "") for p in paths]


def counts(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "by id": 300,
            "by id (msgpack)": 300,
            "by author": 40,
            "by kind": 40,
            "opportunity search": 40,
            "reputation": 40,
        }
    return {
        "by id": 3000,
        "by id (msgpack)": 3000,
        "by author": 900,
        "by kind": 900,
        "opportunity search": 900,
        "reputation": 900,
    }


async def _measure(url: str, reqs: list[Request]) -> LoadResult:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    await load(host, int(port), reqs[: max(8, len(reqs) // 5)], CLIENTS)  # warm up
    return await load(host, int(port), reqs, CLIENTS)


@contextlib.asynccontextmanager
async def minimal_handler() -> AsyncIterator[str]:
    """The limit: aiohttp's minimal handler in a process of its own; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.minimal", str(port)],
        env=node_env(),
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                await _measure(url, [("GET", "/", b"", "")] * 8)
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def measure_hello(url: str, quick: bool) -> LoadResult:
    return await _measure(url, [("GET", "/", b"", "")] * counts(quick)["by id"])


async def read_round(
    nodes: dict[int, NodeProcess], homes: dict[int, Path], r: int, quick: bool
) -> dict[tuple[int, str], LoadResult]:
    """Every query once on every store: the stores in turn, in slices, so that noise hits
    both alike (``homes``: the SQLite homes the requests are drawn from)."""
    sizes = counts(quick)
    found = {}
    for q in QUERIES:
        reqs = {n: requests_for(homes[n], q, sizes[q], random.Random(f"{r}:{q}")) for n in nodes}
        parts: dict[int, list[LoadResult]] = {n: [] for n in nodes}
        for k in range(SLICES):
            for n, node in nodes.items():
                part = reqs[n][k * len(reqs[n]) // SLICES : (k + 1) * len(reqs[n]) // SLICES]
                parts[n].append(await _measure(node.url, part))
        for n in nodes:
            found[(n, q)] = LoadResult(
                sum(x.seconds for x in parts[n]), [t for x in parts[n] for t in x.latencies]
            )
    return found


def throughput_row(
    label: str, results: list[LoadResult], hello: list[LoadResult], target: float | None
) -> Row:
    row = Row(
        label,
        "req/s",
        [x.throughput for x in results],
        "aiohttp minimal handler",
        "req/s",
        [x.throughput for x in hello],
        f"≥ {target}x limit" if target is not None else "reported",
    )
    if target is not None:
        row.met = median(row.ratios) >= target
    row.also = f"p50 {fmt(median([x.percentile(50) * 1000 for x in results]), 'ms')}"
    return row


def growth_rows(
    found: dict[tuple[int, str], list[LoadResult]], small: int, big: int, prefix: str = ""
) -> list[Row]:
    """Each query's p99 on the big store against its p99 on the small one (≤ 1.5x)."""
    rows = []
    for q in QUERIES:
        at_big, at_small = found[(big, q)], found[(small, q)]
        row = Row(
            f"{prefix}{q}: p99 at {big:,}",
            "ms",
            [x.percentile(99) * 1000 for x in at_big],
            f"p99 at {small:,}",
            "ms",
            [x.percentile(99) * 1000 for x in at_small],
            "≤ 1.5x limit",
        )
        row.met = median(row.ratios) <= 1.5
        row.also = (
            f"{fmt(median([x.throughput for x in at_big]), 'req/s')} at {big:,}, "
            f"{fmt(median([x.throughput for x in at_small]), 'req/s')} at {small:,}"
        )
        rows.append(row)
    return rows


async def _run(options: Options) -> tuple[list[Row], dict[str, int]]:
    small, big = (2_000, big_store(options)) if options.quick else (10_000, 1_000_000)
    homes = {
        small: await cached_store(options.work, small, at_least=big_store(options)),
        big: await cached_store(options.work, big),
    }
    nodes = {n: NodeProcess(home).start() for n, home in homes.items()}
    hello: list[LoadResult] = []
    found: dict[tuple[int, str], list[LoadResult]] = {(n, q): [] for n in nodes for q in QUERIES}
    try:
        async with aiohttp.ClientSession(timeout=timeouts(120, 10)) as session:
            for node in nodes.values():
                await node.ready(session, timeout=120)
                await node.sync_ready(session, timeout=300)
        async with minimal_handler() as minimal:
            for r in range(options.rounds):
                hello.append(await measure_hello(minimal, options.quick))
                for key, result in (await read_round(nodes, homes, r, options.quick)).items():
                    found[key].append(result)
    finally:
        for node in nodes.values():
            node.stop()
    rows = [
        throughput_row(f"{q}, {n:,} records: throughput", found[(n, q)], hello, READS_TARGET)
        for q in BY_ID
        for n in nodes
    ]
    return rows + growth_rows(found, small, big), {"small": small, "big": big}


def run(options: Options) -> list[Row]:
    started = time.time()
    try:
        rows, stores = asyncio.run(_run(options))
    finally:
        NodeProcess.stop_all()
    notes = [
        f"{CLIENTS} concurrent keep-alive connections (benchmarks.http); limit: GET / on "
        "aiohttp's minimal handler, same client, same round",
        "by author: an organisation's records, limit=100; by kind: limit=100; opportunity"
        " search: q=one word, default page; reputation: a member with ~230 attestations"
        " in both stores",
    ]
    return report(
        "query",
        options,
        rows,
        {**stores, "clients": CLIENTS, "requests": counts(options.quick)},
        started,
        notes,
    )
