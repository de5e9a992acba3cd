"""footprint: a node over the big store: memory, database bytes per record, start-up time.

The store is built through ``Store.add`` (the node's write path); the node process then runs
over a copy of it, loads its sync index, ingests more records over HTTP and answers reads
before its memory is measured. Start-up is the time from ``python -m node run`` to its first
answer, over the big store against over an empty one, alternating, in the same round.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import Options, Row, fmt, median, report
from benchmarks.http import load
from benchmarks.nodes import (
    NodeProcess,
    children,
    database_bytes,
    free_port,
    make_home,
    pss_bytes,
    rss_bytes,
    set_port,
)
from benchmarks.records import fresh
from benchmarks.stores import big_store, cached_store
from node.config import DATABASE_FILE, load_config
from node.transport import NodeClient, timeouts

MB = 1024 * 1024


def checkpoint(db_path: Path) -> tuple[int, int]:
    """Fold the WAL into the database; (records held, bytes of their wire forms)."""
    db = sqlite3.connect(db_path, timeout=30)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count, wire = db.execute("SELECT count(*), total(length(wire)) FROM records").fetchone()
        return int(count), int(wire)
    finally:
        db.close()


async def startup(session: aiohttp.ClientSession, home: Path) -> tuple[float, float]:
    """Seconds to the first answer, and to the sync index being loaded."""
    node = NodeProcess(home).start()
    try:
        ready = await node.ready(session, 120)
        await node.sync_ready(session, 600)
        return ready, time.monotonic() - node.started_at
    finally:
        node.stop()


async def _run(options: Options, scratch: Path) -> tuple[list[Row], dict[str, object]]:
    big = big_store(options)
    store_home = await cached_store(options.work, big)
    db_path = load_config(store_home).database_path
    count, wire_bytes = await asyncio.to_thread(checkpoint, db_path)
    size = database_bytes(store_home)
    empty = make_home(scratch, "empty")
    copy = make_home(scratch, "copy")
    await asyncio.to_thread(shutil.copyfile, db_path, copy / DATABASE_FILE)
    extra = 1_000 if options.quick else 20_000
    starts: dict[str, list[float]] = {"empty": [], "big": []}
    loads: list[float] = []
    main_rss: list[float] = []
    total_rss: list[float] = []
    workers: list[int] = []
    async with aiohttp.ClientSession(timeout=timeouts(120, 10)) as session:
        for r in range(options.rounds):
            starts["empty"].append((await startup(session, empty))[0])
            first, loaded = await startup(session, store_home)
            starts["big"].append(first)
            loads.append(loaded)
            set_port(copy, free_port())
            node = NodeProcess(copy).start()
            try:
                await node.ready(session, 120)
                await node.sync_ready(session, 600)
                client = NodeClient(node.url, session)
                wires = fresh(extra, int(time.time() * 1000), f"footprint:{r}:{time.time()}")
                for i in range(0, len(wires), 500):
                    await client.post_records(wires[i : i + 500])
                host, port = node.url.removeprefix("http://").rsplit(":", 1)
                await load(host, int(port), [("GET", "/v1/records?limit=100", b"", "")] * 200, 4)
                main_rss.append(rss_bytes(node.pid) / MB)
                family = [node.pid, *children(node.pid)]
                total_rss.append(sum(pss_bytes(p) for p in family) / MB)
                workers.append(len(family) - 1)
            finally:
                node.stop()
    per_record = size / count
    rows = [
        Row(
            "node RSS, main process",
            "MB",
            main_rss,
            "target",
            "MB",
            [250.0] * len(main_rss),
            "≤ 250 MB",
        ),
        Row(
            "node memory with its verifier workers (PSS)",
            "MB",
            total_rss,
            "target",
            "MB",
            [250.0] * len(total_rss),
            "≤ 250 MB",
        ),
        Row(
            "database bytes per record",
            "B",
            [per_record],
            "wire bytes per record",
            "B",
            [wire_bytes / count],
            "≤ 1,536 B",
        ),
        Row(
            f"start-up over {count:,} records",
            "s",
            starts["big"],
            "start-up over an empty store",
            "s",
            starts["empty"],
            "≤ 1.5x limit",
        ),
    ]
    rows[0].met = median(main_rss) <= 250
    rows[1].met = median(total_rss) <= 250
    rows[1].also = f"{max(workers)} worker processes"
    rows[2].met = per_record <= 1536
    rows[2].also = f"database {fmt(size / MB, 'MB')} for {count:,} records"
    rows[3].met = median(rows[3].ratios) <= 1.5
    rows[3].also = f"sync index loaded after {fmt(median(loads), 's')}"
    return rows, {
        "records": count,
        "database_bytes": size,
        "wire_bytes": wire_bytes,
        "ingested_over_http": extra,
    }


def run(options: Options) -> list[Row]:
    started = time.time()
    with tempfile.TemporaryDirectory(
        prefix="bench-footprint-",
        dir=options.work.parent if not options.work.exists() else options.work,
    ) as d:
        try:
            rows, params = asyncio.run(_run(options, Path(d)))
        finally:
            NodeProcess.stop_all()
    notes = [
        f"store of {params['records']:,} records built through Store.add (cached); the node"
        f" ran over a copy, loaded its sync index, ingested {params['ingested_over_http']:,}"
        " more over HTTP and served reads before RSS was read from /proc",
        "bytes per record: database file after a WAL checkpoint, indexes, views and "
        "full-text search included",
        "memory: RSS of the node process; with its verifier workers, the sum of their PSS "
        "(the workers are forked from the node: RSS would count shared pages twice)",
    ]
    return report("footprint", options, rows, params, started, notes)
