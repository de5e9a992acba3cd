"""engines: batched ingest and reads by id on SQLite and on PostgreSQL with 1 and 2 workers.

``python -m benchmarks engines`` (or ``ingest --store postgresql``-style comparisons in one
run): the same fresh records are posted in batches of 500 to a node on each engine, then the
same random ids are read back; every figure sits beside limits measured in the same round —
the fastest verify library's rate on one core for ingest, aiohttp's minimal handler for reads.
PostgreSQL is a throwaway server started here (tests/support/postgres.py; the Debian package).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from benchmarks.common import Options, Row, report
from benchmarks.http import load
from benchmarks.ingest import fastest_rate, post_batches
from benchmarks.nodes import NodeProcess, free_port, make_home
from benchmarks.records import fresh
from node.transport import NodeClient, timeouts
from protocol import parse
from tests.support.postgres import PostgresServer, database_dsn

READ_CLIENTS = 32
BATCH = 500


async def _database(server_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_dsn(server_dsn, name)


async def _minimal_rate(reads: int) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.minimal", str(port)])
    try:
        for _ in range(100):
            try:
                await (await asyncio.open_connection("127.0.0.1", port))[1].drain()
                break
            except OSError:
                await asyncio.sleep(0.05)
        result = await load("127.0.0.1", port, [("GET", "/", b"", "")] * reads, READ_CLIENTS)
        return result.throughput
    finally:
        proc.terminate()
        proc.wait(10)


async def _one_engine(
    home: Path, args: list[str], wires: list[bytes], reads: int
) -> tuple[float, float]:
    node = NodeProcess(home, args).start()
    try:
        async with aiohttp.ClientSession(timeout=timeouts(120, 10)) as session:
            await node.ready(session)
            rate = await post_batches(NodeClient(node.url, session), wires, BATCH)
        ids = [parse(w).id.hex() for w in wires]
        rng = random.Random(7)
        paths = [("GET", f"/v1/records/{rng.choice(ids)}", b"", "") for _ in range(reads)]
        host, port = node.url.removeprefix("http://").rsplit(":", 1)
        result = await load(  # a retracted id answers 410: a read all the same
            host, int(port), paths, READ_CLIENTS, check=lambda status, _: status in (200, 410)
        )
        return rate, result.throughput
    finally:
        node.stop()


async def _run(options: Options, scratch: Path) -> list[Row]:
    started = time.time()
    count, reads = (1_000, 2_000) if options.quick else (10_000, 20_000)
    server = PostgresServer()  # its own directory: the server runs as another user
    server_dsn = server.start()
    names = ["sqlite", "postgresql, 1 worker", "postgresql, 2 workers"]
    ingest: dict[str, list[float]] = {n: [] for n in names}
    by_id: dict[str, list[float]] = {n: [] for n in names}
    verify: list[float] = []
    minimal: list[float] = []
    try:
        for r in range(options.rounds):
            wires = fresh(count, int(time.time() * 1000), f"engines:{r}:{started}")
            verify.append(fastest_rate(wires)[0])
            minimal.append(await _minimal_rate(reads))
            for i, name in enumerate(names):
                storage: dict[str, Any] = {}
                if name != "sqlite":
                    storage["storage_url"] = await _database(server_dsn, f"b{r}_{i}")
                home = make_home(scratch, f"r{r}-{i}", **storage)
                args = ["--workers", "2"] if name.endswith("2 workers") else []
                rate, reads_per_s = await _one_engine(home, args, wires, reads)
                ingest[name].append(rate)
                by_id[name].append(reads_per_s)
    finally:
        server.stop()
    rows = []
    for name in names:
        rows.append(
            Row(
                f"{name}: batches of {BATCH}",
                "rec/s",
                ingest[name],
                "fastest verify, 1 core",
                "rec/s",
                verify,
                "reported beside SQLite",
            )
        )
        rows.append(
            Row(
                f"{name}: reads by id",
                "req/s",
                by_id[name],
                "aiohttp minimal",
                "req/s",
                minimal,
                "reported beside SQLite",
            )
        )
    notes = [
        f"{count} fresh records per round posted in batches of {BATCH} (4 in flight), then "
        f"{reads} GET /v1/records/{{id}} over {READ_CLIENTS} keep-alive connections",
        "PostgreSQL 15 (Debian), a throwaway cluster with fsync off on this machine: the "
        "figures compare engines and worker counts, not durable production settings",
    ]
    return report("engines", options, rows, {"records": count, "reads": reads}, started, notes)


def run(options: Options) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as scratch:
        try:
            return asyncio.run(_run(options, Path(scratch)))
        finally:
            NodeProcess.stop_all()
