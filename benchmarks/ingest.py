"""ingest: fresh signed records of every kind posted over HTTP to one node process.

Limit: how many of the same records one core verifies per second with ``cryptography``
(every signature of each record, keys loaded beforehand), measured in the same round.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from benchmarks.common import Options, Row, report
from benchmarks.http import load
from benchmarks.nodes import NodeProcess, make_home
from benchmarks.records import fresh
from node.transport import MSGPACK, NodeClient, timeouts
from protocol.validate import parse

BATCH_SIZES = (100, 500)
BATCH_IN_FLIGHT = 4
SINGLE_IN_FLIGHT = 64


def verify_rate(wires: list[bytes]) -> float:
    """Records per second one core verifies (all signatures of each), keys loaded beforehand."""
    jobs = []
    keys: dict[bytes, Ed25519PublicKey] = {}
    for wire in wires:
        record = parse(wire)
        message = record.signing_input
        jobs.append(
            [
                (keys.setdefault(k, Ed25519PublicKey.from_public_bytes(k)), s, message)
                for k, s in record.sigs
            ]
        )
    started = time.perf_counter()
    for sigs in jobs:
        for key, signature, message in sigs:
            key.verify(signature, message)
    return len(jobs) / (time.perf_counter() - started)


async def post_batches(client: NodeClient, wires: list[bytes], size: int) -> float:
    """Records per second, every record stored, ``BATCH_IN_FLIGHT`` requests at a time."""
    batches = [wires[i : i + size] for i in range(0, len(wires), size)]
    queue = iter(batches)
    stored = 0

    async def worker() -> None:
        nonlocal stored
        for batch in queue:
            results = await client.post_records(batch)
            stored += sum(1 for r in results if r.get("stored"))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(BATCH_IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    if stored != len(wires):
        raise RuntimeError(f"only {stored} of {len(wires)} records stored")
    return len(wires) / elapsed


async def post_singles(url: str, wires: list[bytes]) -> float:
    """Records per second, one per request, ``SINGLE_IN_FLIGHT`` connections (201: stored)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = [("POST", "/v1/records", w, f"Content-Type: {MSGPACK}\r\n") for w in wires]
    result = await load(
        host, int(port), requests, SINGLE_IN_FLIGHT, check=lambda status, body: status == 201
    )
    return result.throughput


async def _run(options: Options, scratch: Path) -> list[Row]:
    started = time.time()
    batch_n, single_n = (1_000, 300) if options.quick else (10_000, 3_000)
    node = NodeProcess(make_home(scratch, "ingest")).start()
    modes = [(f"batches of {s}", s, batch_n) for s in BATCH_SIZES]
    modes.append(("1 record per request", 1, single_n))
    values: dict[str, list[float]] = {m[0]: [] for m in modes}
    limits: dict[str, list[float]] = {m[0]: [] for m in modes}
    connector = aiohttp.TCPConnector(limit=SINGLE_IN_FLIGHT + 4)
    try:
        async with aiohttp.ClientSession(timeout=timeouts(120, 10), connector=connector) as session:
            await node.ready(session)
            client = NodeClient(node.url, session)
            for r in range(options.rounds):
                for name, size, count in modes:
                    wires = fresh(count, int(time.time() * 1000), f"{r}:{size}:{started}")
                    limits[name].append(verify_rate(wires))
                    if size == 1:
                        values[name].append(await post_singles(node.url, wires))
                    else:
                        values[name].append(await post_batches(client, wires, size))
    finally:
        node.stop()
    rows = []
    for name, size, _ in modes:
        floor = 0.3 if size == 1 else 0.8
        row = Row(
            name,
            "rec/s",
            values[name],
            "verify, 1 core",
            "rec/s",
            limits[name],
            f"≥ {floor}x limit",
        )
        row.met = sorted(row.ratios)[len(row.ratios) // 2] >= floor
        rows.append(row)
    notes = [
        f"node: python -m node run, verifier pool of 2 worker processes (batches of "
        f"≥ 24 records split across them); {BATCH_IN_FLIGHT} batch requests or "
        f"{SINGLE_IN_FLIGHT} single-record requests in flight"
    ]
    return report(
        "ingest",
        options,
        rows,
        {
            "batch_records": batch_n,
            "single_records": single_n,
            "batch_sizes": list(BATCH_SIZES),
            "batch_in_flight": BATCH_IN_FLIGHT,
            "single_in_flight": SINGLE_IN_FLIGHT,
        },
        started,
        notes,
    )


def run(options: Options) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        try:
            return asyncio.run(_run(options, Path(scratch)))
        finally:
            NodeProcess.stop_all()
