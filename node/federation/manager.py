"""Federation of one node: wires its parts together and runs their tasks.

The parts, each with one job: ``ConfigWatcher`` (live reload of config.toml and peers.toml),
``PeerRoster`` (which peers, who they are), ``SenderPool`` (pushing new records to each peer),
``AntiEntropy`` (when to reconcile with whom), ``SyncIndex`` (the reconciliation item set).
``Federation`` starts them, feeds them the store's commits, and stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from node.federation.antientropy import SyncReport
from node.federation.clients import ClientPool
from node.federation.nodekeys import bears_on_node_keys, follow_logged, load_node_keys
from node.federation.peersfile import SeedPeer
from node.federation.roster import PeerRoster
from node.federation.scheduler import AntiEntropy
from node.federation.sender import PeerSender
from node.federation.senders import SenderPool
from node.federation.syncindex import SyncIndex
from node.federation.watcher import ConfigWatcher
from node.service import Node
from node.storage.engines import open_peer_store
from node.storage.interface import PeerStore
from node.transport import NodeClient, timeouts
from protocol import Record, kinds

log = logging.getLogger("rakuichi.federation")
WATCH_INTERVAL = 1.0
AGE_OUT_INTERVAL = 10.0  # seconds between looks for learned peers to forget


class Federation:
    def __init__(self, node: Node, state: PeerStore) -> None:
        self.node = node
        self.state = state
        self.index = SyncIndex()
        fed = node.config.federation
        self.pool = ClientPool.open(
            timeouts(fed.request_timeout, fed.connect_timeout), node.keys.node, self._public_only
        )
        self.watcher = ConfigWatcher(
            node.config.home, node.config.config_path, node.config.peers_path
        )
        self.roster = PeerRoster(
            state,
            self.pool,
            node.peers,
            node.clock,
            lambda: self.node.config.federation,
            node.config.public_url,
            self.request_sync,
        )
        self.outgoing = SenderPool(
            state, self.pool, node.clock, self._recovered, self.identify, self.roster.body_limit
        )
        self.anti_entropy = AntiEntropy(
            self.index,
            node.store,
            node.ingestor,
            state,
            self.pool,
            node.clock,
            lambda: self.node.config.federation,
            self.active_peers,
            self.identify,
            self._learn_from,
            self.roster.body_limit,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._learning: set[asyncio.Task[None]] = set()  # peer learning started by commits
        self._proving: asyncio.Task[None] | None = None  # binding denied URLs' keys

    # ----- lifecycle
    @classmethod
    async def start(cls, node: Node, load_now: bool = True) -> Federation:
        """The running federation; with ``load_now`` False the big reads of the store (the
        sync index, node keys from profiles) wait for ``begin_loading``, so that a node on
        a large store listens first and loads while it answers (its /readyz says so)."""
        state = await open_peer_store(node.config)
        self = cls(node, state)
        await self.roster.remember_identities()
        node.store.on_commit.append(self._on_commit)
        await self._reload(force=True)
        self._tasks = [
            asyncio.create_task(self._watch(), name="watch"),
            asyncio.create_task(self.anti_entropy.run(), name="anti-entropy"),
        ]
        if load_now:
            self.begin_loading()
        return self

    def begin_loading(self) -> None:
        self._tasks += [
            asyncio.create_task(self.index.load(self.node.store), name="index"),
            asyncio.create_task(load_node_keys(self.node), name="node-keys"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._learning, *self.index.pending_tasks]
        if self._proving is not None:
            tasks.append(self._proving)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.outgoing.stop()
        with contextlib.suppress(ValueError):
            self.node.store.on_commit.remove(self._on_commit)
        await self.pool.close()
        await self.state.close()

    # ----- what the rest of the node and the tests look at
    @property
    def seeds(self) -> list[SeedPeer]:
        return self.roster.seeds

    @property
    def senders(self) -> dict[str, PeerSender]:
        return self.outgoing.senders

    @property
    def clients(self) -> dict[str, NodeClient]:
        return self.pool.clients

    @property
    def sync_reports(self) -> dict[str, SyncReport]:
        return self.anti_entropy.reports

    def client(self, url: str) -> NodeClient:
        return self.pool.client(url)

    def _public_only(self, url: str) -> bool:
        """A learned peer is contacted at public addresses only, unless ``learn_private``;
        a peer listed in peers.toml is always contacted."""
        if self.node.config.federation.learn_private:
            return False
        return all(seed.url != url for seed in self.roster.seeds)

    async def active_peers(self) -> list[str]:
        return await self.roster.active()

    async def add_peer(self, url: str, source: str) -> bool:
        return await self.roster.add(url, source)

    async def identify(self, url: str) -> bytes:
        return await self.roster.identify(url)

    def request_sync(self, url: str) -> None:
        self.anti_entropy.request(url)

    async def sync_with(self, url: str) -> SyncReport | None:
        return await self.anti_entropy.sync_with(url)

    def on_sync_report(self, listener: Callable[[str, SyncReport], None]) -> None:
        """Call ``listener(url, report)`` after every anti-entropy session with a report."""
        self.anti_entropy.add_listener(listener)

    def contacted(self, node_key: bytes) -> None:
        """A peer just reached us with a signed request: it is up, so stop backing off."""
        identity = self.node.peers.by_key.get(node_key)
        if identity is not None and identity.url:
            self.outgoing.contacted(identity.url)
        elif identity is None:  # a peer that rotated its node key, or a new one: re-read
            self.roster.unknown_signer()

    async def peer_table(self) -> list[dict[str, Any]]:
        """Every peer's row and state (``node`` and ``org``: raw keys, or None)."""
        rows = await self.state.all()
        active = set(await self.active_peers())
        return [
            {
                "url": url,
                "source": row.source,
                "active": url in active,
                "node": row.node_key,
                "org": row.org,
                "last_success": row.last_success,
                "last_error": row.last_error,
                "error": row.error,
                "failures": row.failures,
                "last_sync": row.last_sync,
                "backlog": await self.state.backlog(row.node_key, row.cursor),
                "backoff": max(
                    self.outgoing.backoff_left(url), self.anti_entropy.backoff_left(url)
                ),
            }
            for url, row in rows.items()
        ]

    # ----- reload and peers
    async def _reload(self, force: bool = False) -> None:
        """Re-read config.toml and peers.toml when they changed (taking effect live)."""
        fresh = self.watcher.changed(force)
        if fresh is None:
            return
        self.node.use_federation_config(fresh.federation)
        await self.roster.use_seeds(fresh.seeds, fresh.federation.deny_urls)
        await self._update_senders()
        self._prove_denied()

    async def _update_senders(self) -> None:
        await self.outgoing.update(set(await self.active_peers()), self.node.config.federation)

    async def _watch(self) -> None:
        next_age_out = 0.0
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if self.node.clock.monotonic() >= next_age_out:
                next_age_out = self.node.clock.monotonic() + AGE_OUT_INTERVAL
                self._prove_denied()  # a denied URL that did not answer: try again
                try:
                    if await self.roster.age_out():
                        await self._update_senders()
                except Exception:
                    log.exception("ageing out learned peers failed")
            self.pool.signer = self.node.keys.node  # the node key may have been rotated
            for client in self.pool.clients.values():
                client.signer = self.node.keys.node
            try:
                await self._reload()
            except Exception:
                log.exception("reload failed")

    def _prove_denied(self) -> None:
        """Bind the node keys of denied URLs by proof, in the background (one task at once)."""
        if self._proving is None or self._proving.done():
            self._proving = asyncio.create_task(self._prove_denied_logged(), name="prove-denied")

    async def _prove_denied_logged(self) -> None:
        try:
            await self.roster.prove_denied()
        except Exception:
            log.exception("reading denied peers' well-known documents failed")

    async def _learn(self, named: list[tuple[bytes, list[str]]]) -> None:
        """Learn peers from profiles: (organisation, the URLs its profile names) each."""
        for org, urls in named:
            await self.roster.learn(urls, org)
        await self._update_senders()

    async def _learn_from(self, url: str) -> None:
        await self.roster.learn_from(url)
        await self._update_senders()

    async def _learn_logged(self, named: list[tuple[bytes, list[str]]]) -> None:
        try:
            await self._learn(named)
        except Exception:
            log.exception("learning peers from a profile failed")

    async def _recovered(self, url: str) -> None:
        log.info("peer %s is back", url)
        self.request_sync(url)

    # ----- the store's commits
    def _on_commit(self, records: list[Record]) -> None:
        self.index.on_commit(records, self.node.store)
        self.outgoing.poke_all()
        profiles = [r for r in records if r.kind == kinds.ORG_PROFILE]
        for profile in profiles:
            self.roster.note_nodes(profile)
        if bears_on_node_keys(records):
            task = asyncio.get_running_loop().create_task(follow_logged(self.node, records))
            self._learning.add(task)
            task.add_done_callback(self._learning.discard)
        if self.node.config.federation.learn_peers:
            named = [
                (r.author, [n["url"] for n in r.body.get("nodes", [])])
                for r in profiles
                if r.body.get("nodes")
            ]
            if named:
                task = asyncio.get_running_loop().create_task(self._learn_logged(named))
                self._learning.add(task)
                task.add_done_callback(self._learning.discard)
