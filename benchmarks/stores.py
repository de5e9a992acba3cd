"""Big stores built fast: cached wires parsed in worker processes, stored by ``Store.add``.

``Store.add`` is the node's own write path (facts, triggers, views, group commit), taken in
batches of several thousand records instead of over HTTP. A built store is a whole node home,
cached in ``benchmarks/work/`` by size, so later runs reuse it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.common import Options
from benchmarks.nodes import make_home
from benchmarks.records import FORMAT, read_wires, store_wires
from node.config import load_config
from node.storage.store import Store
from protocol.record import Record
from protocol.validate import parse

SLICE = 4_000
STABLE_URL = "http://127.0.0.1:9"  # a fixed public URL: the profile does not change per run


def parse_many(wires: list[bytes]) -> list[Record]:
    return [parse(w) for w in wires]


async def fill(
    db_path: Path,
    wires: list[bytes] | None = None,
    source: Path | None = None,
    count: int = 0,
    received_ms: int | None = None,
) -> float:
    """Store ``wires`` (or the first ``count`` of the file ``source``); seconds taken."""
    started = time.perf_counter()
    stream = iter(wires) if wires is not None else read_wires(source, count)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    store = await Store.open(db_path)
    received = received_ms if received_ms is not None else int(time.time() * 1000)
    try:
        with ProcessPoolExecutor(2) as pool:
            pending: list[asyncio.Future[list[Record]]] = []
            while True:
                while len(pending) < 4:
                    part = [w for _, w in zip(range(SLICE), stream, strict=False)]
                    if not part:
                        break
                    pending.append(loop.run_in_executor(pool, parse_many, part))
                if not pending:
                    break
                records = await pending.pop(0)
                await store.add(records, received)
    finally:
        await store.close()
    return time.perf_counter() - started


def big_store(options: Options) -> int:
    """The biggest store of the run: its wires are generated first, smaller ones are prefixes."""
    return 10_000 if options.quick else 1_000_000


async def cached_store(work: Path, count: int, at_least: int = 0) -> Path:
    """The home of a node whose store holds the first ``count`` store records (built once);
    the wires are generated for ``at_least`` records if none are cached yet."""
    home = work / f"store-{FORMAT}-{count}"
    done = home / "built"
    if done.exists():
        return home
    if home.exists():
        shutil.rmtree(home)
    source = store_wires(work, max(count, at_least))
    make_home(work, home.name, url=STABLE_URL)
    await fill(load_config(home).database_path, source=source, count=count)
    done.write_text(f"{count}\n")
    return home
