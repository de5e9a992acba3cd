"""ingest: fresh signed records of every kind posted over HTTP to one node process (with its
verifier workers), which verifies with its default: the fastest verifier installed.

Limit: how many of the same records one core verifies per second with the fastest Ed25519
library call available (every signature of each record), measured in the same round. Every
installed library's rate (``cryptography``/OpenSSL and ``pynacl``/libsodium) is reported beside
it, and the limit is the fastest of them in that round.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import Options, Row, report
from benchmarks.http import load
from benchmarks.nodes import NodeProcess, make_home
from benchmarks.records import fresh
from crypto.verifiers import AVAILABLE, SignatureVerifier
from node.transport import MSGPACK, NodeClient, timeouts
from node.verifier import VERIFIER_ENV
from protocol.validate import parse

BATCH_SIZES = (100, 500)
BATCH_IN_FLIGHT = 4
SINGLE_IN_FLIGHT = 64


def verify_rate(wires: list[bytes], verifier: SignatureVerifier) -> float:
    """Records per second one core verifies (all signatures of each) with ``verifier``'s
    library call alone."""
    jobs = []
    for wire in wires:
        record = parse(wire)
        jobs.append([(k, s, record.signing_input) for k, s in record.sigs])
    equation = verifier.equation
    started = time.perf_counter()
    for sigs in jobs:
        for key, signature, message in sigs:
            if not equation(key, signature, message):
                raise RuntimeError("a benchmark record does not verify")
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


def fastest_rate(wires: list[bytes]) -> tuple[float, dict[str, float]]:
    """One core's verify rate with the fastest library installed, and every library's rate."""
    rates = {verifier.name: verify_rate(wires, verifier) for verifier in AVAILABLE}
    return max(rates.values()), rates


async def _run(options: Options, scratch: Path) -> list[Row]:
    started = time.time()
    batch_n, single_n = (1_000, 300) if options.quick else (10_000, 3_000)
    modes = [(f"batches of {s}", s, batch_n) for s in BATCH_SIZES]
    modes.append(("1 record per request", 1, single_n))
    values: dict[str, list[float]] = {m[0]: [] for m in modes}
    limits: dict[str, list[float]] = {m[0]: [] for m in modes}
    library_rates: dict[str, list[float]] = {v.name: [] for v in AVAILABLE}
    node_verifier = AVAILABLE[0]  # the node's default (``RAKUICHI_VERIFIER`` unset)
    home = make_home(scratch, "ingest")
    node = NodeProcess(home, env={VERIFIER_ENV: node_verifier.name}).start()
    connector = aiohttp.TCPConnector(limit=SINGLE_IN_FLIGHT + 4)
    try:
        async with aiohttp.ClientSession(timeout=timeouts(120, 10), connector=connector) as session:
            await node.ready(session)
            client = NodeClient(node.url, session)
            for r in range(options.rounds):
                for name, size, count in modes:
                    wires = fresh(count, int(time.time() * 1000), f"{r}:{size}:{started}")
                    limit, rates = fastest_rate(wires)
                    limits[name].append(limit)
                    for library, rate in rates.items():
                        library_rates[library].append(rate)
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
            "fastest verify, 1 core",
            "rec/s",
            limits[name],
            f"≥ {floor}x limit",
        )
        row.met = sorted(row.ratios)[len(row.ratios) // 2] >= floor
        rows.append(row)
    for library, per_round in library_rates.items():
        rows.append(Row(f"verify, 1 core [{library}]", "rec/s", per_round, target="limit: fastest"))
    notes = [
        f"node: python -m node run verifying with {node_verifier.name} (its default, the fastest"
        f" installed), verifier pool of 2 worker processes (the records of one event-loop turn"
        f" go to them from 4, in chunks of ≥ 24; records held with the same bytes are not"
        f" verified again); {BATCH_IN_FLIGHT} batch requests or {SINGLE_IN_FLIGHT} single-record"
        f" requests in flight; limit: the fastest of {', '.join(v.name for v in AVAILABLE)}"
        " per round (every library's rate is its own row)"
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
            "verifiers": [v.name for v in AVAILABLE],
            "node_verifier": node_verifier.name,
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
