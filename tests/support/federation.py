"""Helpers for federation tests: fast-replicating homes, topologies, polling, and reading nodes.

Every node listens on 127.0.0.1. Homes made by ``federation_home`` replicate quickly (short
push and anti-entropy intervals, a short backoff cap) and never learn peers, so the topology a
test writes into ``peers.toml`` is the one that holds. Polling is always bounded in time
(``wait_for``); nothing here sleeps blindly.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiosqlite
import asyncpg

from node.config import CONFIG_FILE, load_config
from node.federation.peersfile import SeedPeer, normalise_url, write_peers
from node.runner import RunningNode, start_node, stop_node
from node.storage.pg_store import PgStore
from node.storage.viewdump import dump_views
from node.tomlfile import dumps, read_toml, write_atomically
from node.transport import MSGPACK, NodeClient, timeouts
from protocol.record import Record
from protocol.views import Views
from tests.support.nodes import NodeProcess, make_home
from tests.support.postgres import create_database

T = TypeVar("T")

FAST_FEDERATION: dict[str, Any] = {
    "learn_peers": False,
    "push_interval": 0.2,
    "anti_entropy_interval": 1.0,
    "max_backoff": 2.0,
    # replication tests move many MiB of one author's records (some of unknown kinds) within
    # seconds: the per-author storage quotas would refuse them (tests/hardening tests those)
    "quota_bytes_per_author": 0,
    "quota_bytes_unknown_kind": 0,
}


@dataclass
class FederationEngine:
    """Where ``federation_home`` keeps a node's records: an SQLite file (``server_dsn`` None,
    the default) or a new database on this PostgreSQL server, the node then running as
    ``NodeProcess.postgres_workers`` worker processes. Set by the ``federation_engine``
    fixture, so the same federation test runs on both."""

    server_dsn: str | None = None


ENGINE = FederationEngine()


def federation_home(tmp_path: Path, name: str, port: int | None = None, **overrides: Any) -> Path:
    """A home that replicates fast and keeps the topology of its ``peers.toml``."""
    if ENGINE.server_dsn is not None and "storage_url" not in overrides:
        overrides["storage_url"] = create_database(ENGINE.server_dsn)
    return make_home(tmp_path, name, port, **{**FAST_FEDERATION, **overrides})


# seconds: each process of a node (a worker of several on PostgreSQL) re-reads config.toml on
# its own second, so one refusal shows a deny in effect in one process; all have it this long
# after the command (the leader's pulls and pushes included, which no probe can see)
EVERY_PROCESS_WITHIN = 3.0


async def in_every_process(since: float) -> None:
    """Wait until every process of a node has re-read config.toml since ``since`` (monotonic)."""
    await asyncio.sleep(max(0.0, since + EVERY_PROCESS_WITHIN - time.monotonic()))


def set_peers(home: Path, urls: Iterable[str]) -> None:
    """Write ``home/peers.toml`` to list exactly ``urls`` (a running node reloads it)."""
    write_peers(home / "peers.toml", [SeedPeer(normalise_url(u)) for u in urls])


def undeny_url(home: Path, url: str) -> None:
    """Take ``url`` off ``[federation] deny_urls`` of ``home/config.toml`` (no CLI does this)."""
    path = home / CONFIG_FILE
    data = read_toml(path)
    fed = data.setdefault("federation", {})
    fed["deny_urls"] = [u for u in fed.get("deny_urls", []) if u != normalise_url(url)]
    write_atomically(path, dumps(data, "Rakuichi node configuration."))


def line_topology(homes: Sequence[Path], urls: Sequence[str]) -> None:
    """Peer each node with its neighbours only: 0-1-2-...-n."""
    for i, home in enumerate(homes):
        set_peers(home, [urls[j] for j in (i - 1, i + 1) if 0 <= j < len(urls)])


async def start_processes(homes: Sequence[Path], timeout: float = 20.0) -> list[NodeProcess]:
    """Start one node process per home and wait until all answer. Every process started is
    known to ``NodeProcess.live``, so the autouse fixture kills it whatever happens."""
    procs = [NodeProcess(home) for home in homes]
    for proc in procs:
        proc.start()
    await asyncio.gather(*(p.await_ready(timeout) for p in procs))
    return procs


async def wait_for(
    check: Callable[[], Awaitable[T]], timeout: float, what: str, interval: float = 0.1
) -> T:
    """Call ``check`` until it returns something truthy, at most ``timeout`` seconds.

    Returns that value; raises ``AssertionError`` naming ``what`` and the last value (or the
    last exception) when time runs out.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"not {what} within {timeout} s; last: {_short(last)}")
        await asyncio.sleep(interval)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 1500 else text[:1500] + "..."


@asynccontextmanager
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=timeouts(total=10.0, connect=3.0)) as session:
        yield session


class Api:
    """Plain HTTP reads and writes against nodes, as any client would make them."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    def client(self, url: str) -> NodeClient:
        return NodeClient(url, self.session)

    async def get_json(self, url: str) -> Any:
        async with self.session.get(url) as response:
            response.raise_for_status()
            return await response.json()

    async def records(self, url: str) -> dict[str, bool]:
        """Every record id the node lists (paging ``GET /v1/records``) -> retracted or not."""
        found: dict[str, bool] = {}
        cursor: str | None = None
        for _ in range(10_000):
            query = f"?limit=500&cursor={cursor}" if cursor else "?limit=500"
            page = await self.get_json(f"{url}/v1/records{query}")
            for row in page["records"]:
                found[row["id"]] = bool(row.get("retracted"))
            cursor = page["next"]
            if not page["records"]:  # the last page answers a cursor too
                return found
        raise AssertionError(f"{url}: /v1/records pages never end")

    async def record_ids(self, url: str) -> set[str]:
        return set(await self.records(url))

    async def has(self, url: str, record_id: str) -> bool:
        async with self.session.get(f"{url}/v1/records/{record_id}") as response:
            return response.status in (200, 410)

    async def post(self, url: str, records: Sequence[Record]) -> list[dict[str, Any]]:
        """Post a batch; every record must be accepted (stored now or already held)."""
        results = await self.client(url).post_records([r.wire for r in records])
        refused = [r for r in results if "class" in r]
        assert not refused, f"{url} refused records: {refused}"
        return results

    async def post_raw(self, url: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """POST bytes to /v1/records; the status and the JSON answer (a problem or results)."""
        async with self.session.post(
            f"{url}/v1/records", data=body, headers={"Content-Type": MSGPACK}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def peer_row(self, url: str, peer_url: str) -> dict[str, Any] | None:
        table = (await self.get_json(f"{url}/v1/peers"))["peers"]
        return next((row for row in table if row["url"] == peer_url), None)

    async def holds_own_profile(self, url: str) -> bool:
        """Whether the node at ``url`` holds its organisation's profile: a node of several
        processes publishes it once a worker leads, a moment after it answers."""
        org = (await self.get_json(f"{url}/.well-known/rakuichi"))["org"]
        page = await self.get_json(f"{url}/v1/records?kind=org.profile&author={org}&limit=1")
        return bool(page["records"])

    async def all_hold(self, urls: Sequence[str], ids: Iterable[str]) -> bool:
        wanted = set(ids)
        for url in urls:
            if not wanted <= await self.record_ids(url):
                return False
        return True

    async def converged(
        self, urls: Sequence[str], must_hold: Iterable[str] = ()
    ) -> dict[str, bool] | None:
        """The common listing when every node lists the same ids (same retracted flags) and
        holds ``must_hold``; else None."""
        listings = [await self.records(url) for url in urls]
        if any(listing != listings[0] for listing in listings[1:]):
            return None
        if not set(must_hold) <= set(listings[0]):
            return None
        return listings[0]


async def describe_listings(api: Api, urls: Sequence[str]) -> str:
    """For failure messages: how the nodes' id sets differ from the union."""
    listings = {url: await api.record_ids(url) for url in urls}
    union = set().union(*listings.values())
    return "; ".join(
        f"{url}: {len(ids)} ids, lacks {sorted(union - ids)[:5]}" for url, ids in listings.items()
    )


@asynccontextmanager
async def read_only_db(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A read-only connection to a node's database (it may be running: WAL readers are fine)."""
    db = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
    try:
        await db.execute("PRAGMA busy_timeout = 10000")
        yield db
    finally:
        await db.close()


async def node_views(home: Path, at_ms: int) -> Views:
    """The derived views the node of ``home`` keeps, read from its database while it runs
    (an SQLite file read-only, or its PostgreSQL database)."""
    config = load_config(home)
    if config.postgresql_dsn is None:
        async with read_only_db(config.database_path) as db:
            return await dump_views(db, at_ms)
    store = await PgStore.open(config.postgresql_dsn)
    try:
        return await store.dump_views(at_ms)
    finally:
        await store.close()


async def node_count(home: Path, sql: str, params: Sequence[Any] = ()) -> int:
    """``SELECT count(*) ...`` (``?`` parameters) on the database of the node of ``home``."""
    config = load_config(home)
    if config.postgresql_dsn is None:
        async with read_only_db(config.database_path) as db:
            rows = list(await db.execute_fetchall(sql, tuple(params)))
            return int(rows[0][0])
    numbers = itertools.count(1)
    numbered = re.sub(r"\?", lambda _match: f"${next(numbers)}", sql)
    conn = await asyncpg.connect(config.postgresql_dsn)
    try:
        return int(await conn.fetchval(numbered, *params))
    finally:
        await conn.close()


@asynccontextmanager
async def running_federation(home: Path) -> AsyncIterator[RunningNode]:
    """The node of ``home`` in this event loop, with its ``Federation`` reachable."""
    running = await start_node(load_config(home), verifier_workers=0)
    try:
        yield running
    finally:
        await stop_node(running)


__all__ = [
    "FAST_FEDERATION",
    "Api",
    "describe_listings",
    "federation_home",
    "http_session",
    "line_topology",
    "node_count",
    "node_views",
    "read_only_db",
    "running_federation",
    "set_peers",
    "start_processes",
    "undeny_url",
    "wait_for",
]
