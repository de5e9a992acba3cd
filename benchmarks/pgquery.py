"""pgquery: the query benchmark on PostgreSQL (``python -m benchmarks query --store postgresql``).

The same reads as ``query`` (by id, by author, by kind, opportunity search, reputation) from a
node process whose store is PostgreSQL, over a small and a big store: the target is query p99
flat from the small to the big store (≤ 1.5x), the limit being the same query's p99 on the
small store in the same round. Reads by id are also reported against aiohttp's minimal handler
and, with 2 worker processes (``run --workers 2``), beside 1 worker.

The PostgreSQL stores are the SQLite benchmark stores moved with ``rakuichi store migrate``
(the operator's own path: rows copied, facts derived again, views kept by PostgreSQL's
triggers, then record sets and views compared), once, into a cluster kept in
``benchmarks/work/pg-cluster`` and reused by later runs. Moving 1,000,000 records takes about a
quarter of an hour on this machine the first time.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks.common import REPO_ROOT, Options, Row, report
from benchmarks.http import LoadResult
from benchmarks.nodes import NodeProcess, make_home, node_env
from benchmarks.query import (
    _measure,
    counts,
    growth_rows,
    measure_hello,
    minimal_handler,
    read_round,
    requests_for,
    throughput_row,
)
from benchmarks.stores import big_store, cached_store
from node.transport import timeouts
from tests.support.postgres import PostgresServer, database_dsn

BUILT = "rakuichi_benchmark_built"  # a table that marks a completely migrated database


async def _migrated(server_dsn: str, sqlite_home: Path, count: int) -> str:
    """The DSN of a database holding the ``count``-record store (migrated once, then kept)."""
    name = f"store_{count}"
    dsn = database_dsn(server_dsn, name)
    admin = await asyncpg.connect(server_dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            db = await asyncpg.connect(dsn)
            try:
                if await db.fetchval("SELECT to_regclass($1)", BUILT) is not None:
                    return dsn
            finally:
                await db.close()
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    print(f"pgquery: moving the {count:,}-record store to PostgreSQL (once)", flush=True)
    command = [sys.executable, "-m", "node", "store", "migrate", "--home", str(sqlite_home)]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--to", dsn],
        env=node_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"store migrate failed: {done.stderr.strip()[-2000:]}")
    db = await asyncpg.connect(dsn)
    try:
        await db.execute(f"CREATE TABLE {BUILT} (at timestamptz DEFAULT now())")
    finally:
        await db.close()
    return dsn


async def _run(options: Options) -> tuple[list[Row], dict[str, int]]:
    small, big = (2_000, big_store(options)) if options.quick else (10_000, 1_000_000)
    sqlite_homes = {
        small: await cached_store(options.work, small, at_least=big_store(options)),
        big: await cached_store(options.work, big),
    }
    server = PostgresServer(options.work / "pg-cluster", keep=True)
    server_dsn = await asyncio.to_thread(server.start)
    scratch = Path(tempfile.mkdtemp(prefix="pgquery-", dir=options.work))
    try:
        dsns = {n: await _migrated(server_dsn, h, n) for n, h in sqlite_homes.items()}
        found: dict[tuple[int, str], list[LoadResult]] = {}
        by_id_two: list[LoadResult] = []
        for workers in (1, 2):
            pg_homes = {n: make_home(scratch, f"w{workers}-{n}", storage_url=dsns[n]) for n in dsns}
            args = ["--workers", "2"] if workers == 2 else []
            nodes = {n: NodeProcess(h, args).start() for n, h in pg_homes.items()}
            try:
                async with aiohttp.ClientSession(timeout=timeouts(300, 10)) as session:
                    for node in nodes.values():
                        await node.ready(session, timeout=300)
                        if workers == 1:
                            await node.sync_ready(session, timeout=600)
                if workers == 1:
                    for r in range(options.rounds):
                        for key, result in (
                            await read_round(nodes, sqlite_homes, r, options.quick)
                        ).items():
                            found.setdefault(key, []).append(result)
                else:  # reads by id with two workers, on the big store
                    reqs = requests_for(
                        sqlite_homes[big], "by id", counts(options.quick)["by id"], random.Random(0)
                    )
                    for _ in range(options.rounds):
                        by_id_two.append(await _measure(nodes[big].url, reqs))
            finally:
                for node in nodes.values():
                    node.stop()
        async with minimal_handler() as minimal:
            hello = [await measure_hello(minimal, options.quick) for _ in range(options.rounds)]
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(scratch, ignore_errors=True)
    return _rows(found, by_id_two, hello, small, big), {"small": small, "big": big}


def _rows(
    found: dict[tuple[int, str], list[LoadResult]],
    by_id_two: list[LoadResult],
    hello: list[LoadResult],
    small: int,
    big: int,
) -> list[Row]:
    return [
        throughput_row(
            f"postgresql, 1 worker, by id, {big:,} records: throughput",
            found[(big, "by id")],
            hello,
            None,
        ),
        throughput_row(
            f"postgresql, 2 workers, by id, {big:,} records: throughput", by_id_two, hello, None
        ),
        *growth_rows(found, small, big, "postgresql, "),
    ]


def run(options: Options) -> list[Row]:
    started = time.time()
    try:
        rows, stores = asyncio.run(_run(options))
    finally:
        NodeProcess.stop_all()
    notes = [
        "PostgreSQL (Debian package) in a cluster kept in the work folder; stores moved from"
        " the SQLite benchmark stores by `rakuichi store migrate`; one node process (and one"
        " of 2 workers for reads by id); 8 concurrent keep-alive connections",
        "the same requests as `query` (ids drawn from the same store)",
    ]
    return report(
        "pgquery",
        options,
        rows,
        {**stores, "requests": counts(options.quick)},
        started,
        notes,
    )
