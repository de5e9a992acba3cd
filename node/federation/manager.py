"""Federation of one node: its senders, the anti-entropy loop, live reload and discovery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

import aiohttp

from crypto import did_from_raw
from node.config import load_config
from node.federation.antientropy import SyncReport, anti_entropy
from node.federation.directory import raw_or_none
from node.federation.peersfile import SeedPeer, normalise_url, read_peers
from node.federation.sender import PeerSender
from node.federation.syncindex import SyncIndex
from node.service import Node
from node.storage import identities
from node.storage.peers import LEARNED, SEED, PeerTable
from node.tomlfile import ConfigError
from node.transport import NodeClient, RemoteRefusal, TransportError, timeouts
from protocol import Record, Rejected, kinds, parse

log = logging.getLogger("rakuichi.federation")
WATCH_INTERVAL = 1.0
SESSION_TIMEOUTS = 12  # an anti-entropy session may last this many request timeouts


class Federation:
    def __init__(self, node: Node, state: PeerTable, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.state = state
        self.session = session
        self.index = SyncIndex()
        self.seeds: list[SeedPeer] = []
        self.senders: dict[str, PeerSender] = {}
        self.clients: dict[str, NodeClient] = {}
        self.sync_reports: dict[str, SyncReport] = {}
        self._mtimes: tuple[float, float] = (0.0, 0.0)
        self._tasks: list[asyncio.Task[Any]] = []
        self._sync_now = asyncio.Event()
        self._sync_queue: list[str] = []
        self._sync_lock = asyncio.Lock()
        self._learning: set[asyncio.Task[None]] = set()  # peer learning started by commits

    # ----- lifecycle
    @classmethod
    async def start(cls, node: Node) -> Federation:
        fed = node.config.federation
        session = aiohttp.ClientSession(
            timeout=timeouts(fed.request_timeout, fed.connect_timeout),
            connector=aiohttp.TCPConnector(limit_per_host=2),
        )
        state = await PeerTable.open(node.config.database_path)
        self = cls(node, state, session)
        for url, row in (await state.all()).items():  # who signs as whom, for deny_urls
            if row.node_key:
                node.peers.learn(row.node_key, url, row.org)
        node.store.on_commit.append(self._on_commit)
        await self._reload(force=True)
        self._tasks = [
            asyncio.create_task(self.index.load(node.store), name="index"),
            asyncio.create_task(self._watch(), name="watch"),
            asyncio.create_task(self._anti_entropy_loop(), name="anti-entropy"),
            asyncio.create_task(self._load_node_keys(), name="node-keys"),
        ]
        return self

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._learning, *self.index.pending_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in self.senders.values()))
        with contextlib.suppress(ValueError):
            self.node.store.on_commit.remove(self._on_commit)
        await self.session.close()
        await self.state.close()

    # ----- peers
    def client(self, url: str) -> NodeClient:
        if url not in self.clients:
            self.clients[url] = NodeClient(url, self.session, signer=self.node.keys.node)
        return self.clients[url]

    def _denied(self, url: str, node_key: str | None, org: str | None) -> bool:
        fed = self.node.config.federation
        if url in fed.deny_urls:
            return True
        return any(did is not None and raw_or_none(did) in fed.deny_orgs for did in (node_key, org))

    async def active_peers(self) -> list[str]:
        """Seeds first, then learned peers (unless allow-only), up to ``max_peers``."""
        fed = self.node.config.federation
        rows = await self.state.all()
        own = self.node.config.public_url
        chosen = [p.url for p in self.seeds]
        if not fed.allow_only and fed.learn_peers:
            chosen += [url for url, row in rows.items() if row.source == LEARNED]
        active = []
        for url in chosen:
            row = rows.get(url)
            if url == own or url in active:
                continue
            if row is not None and self._denied(url, row.node_key, row.org):
                continue
            active.append(url)
        return active[: fed.max_peers]

    async def add_peer(self, url: str, source: str) -> bool:
        """Remember a peer; a new one starts at the current end of the outbox and is synced."""
        new = await self.state.ensure(
            url, source, await self.state.max_seq(), self.node.clock.now_ms()
        )
        if new:
            self.request_sync(url)
        return new

    async def _reload(self, force: bool = False) -> None:
        """Re-read config.toml and peers.toml when they changed (taking effect live)."""
        cfg = self.node.config
        try:
            mtimes = (cfg.config_path.stat().st_mtime, cfg.peers_path.stat().st_mtime)
        except OSError:
            return
        if mtimes == self._mtimes and not force:
            return
        self._mtimes = mtimes
        try:
            fresh = load_config(cfg.home)
            seeds = read_peers(cfg.peers_path)
        except ConfigError as exc:
            log.error("configuration not reloaded: %s", exc)
            return
        self.node.config = replace(cfg, federation=fresh.federation)
        self.seeds = seeds
        self.node.peers.seed_keys = {p.node_key for p in seeds if p.node_key}
        for seed in seeds:
            await self.add_peer(seed.url, SEED)
        rows = await self.state.all()
        for url, row in rows.items():
            # a denied peer's row is kept: its node key is how its requests are recognised
            if (
                row.source == SEED
                and url not in {p.url for p in seeds}
                and url not in fresh.federation.deny_urls
            ):
                await self.state.forget(url)
        await self._update_senders()

    async def _update_senders(self) -> None:
        active = set(await self.active_peers())
        for url in list(self.senders):
            if url not in active:
                await self.senders.pop(url).stop()
        fed = self.node.config.federation
        for url in active - set(self.senders):
            sender = PeerSender(
                url,
                self.client(url),
                self.state,
                self.node.clock,
                fed.push_interval,
                fed.max_backoff,
                self._recovered,
                self._identify,
            )
            self.senders[url] = sender
            sender.start()

    async def _identify(self, url: str) -> str:
        """The peer's node key: learnt once from its well-known document (and checked)."""
        row = await self.state.get(url)
        if row is not None and row.node_key:
            return row.node_key
        answer = await self.client(url).identity()
        node_key, org = answer.get("node"), answer.get("org")
        if not isinstance(node_key, str) or not isinstance(org, str):
            raise TransportError(f"{url}: well-known document lacks node/org")
        pinned = next((p.node_key for p in self.seeds if p.url == url and p.node_key), None)
        if pinned and pinned != node_key:
            raise TransportError(f"{url}: node key {node_key} is not the pinned {pinned}")
        if self._denied(url, node_key, org):
            raise TransportError(f"{url}: denied by this node's policy")
        await self.state.set_identity(url, node_key, org)
        self.node.peers.learn(node_key, url, org)
        return node_key

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            for client in self.clients.values():  # the node key may have been rotated
                client.signer = self.node.keys.node
            try:
                await self._reload()
            except Exception:
                log.exception("reload failed")

    # ----- events
    def _on_commit(self, records: list[Record]) -> None:
        self.index.on_commit(records, self.node.store)
        for sender in self.senders.values():
            sender.poke()
        for record in records:
            if record.kind == kinds.ORG_PROFILE:
                self._note_nodes(record)
        if self.node.config.federation.learn_peers:
            urls = [
                n["url"]
                for r in records
                if r.kind == kinds.ORG_PROFILE
                for n in r.body.get("nodes", [])
            ]
            if urls:
                task = asyncio.get_running_loop().create_task(self._learn_logged(urls))
                self._learning.add(task)
                task.add_done_callback(self._learning.discard)

    def _note_nodes(self, profile: Record) -> None:
        """Remember which node keys answer at which URLs for an organisation (its profile),
        then follow a node key rotation (``_follow_node_keys``)."""
        for entry in profile.body.get("nodes", []):
            try:
                url = normalise_url(entry["url"])
            except ConfigError:
                continue
            self.node.peers.learn(did_from_raw(entry["key"]), url, did_from_raw(profile.author))
        task = asyncio.get_running_loop().create_task(self._follow_logged([profile]))
        self._learning.add(task)
        task.add_done_callback(self._learning.discard)

    async def _follow_node_keys(self, profiles: list[Record]) -> None:
        """A profile names its organisation's node keys (signed by the organisation): keys
        its newest profile dropped are retired (refused after ``node_key_grace``), and a
        peer URL whose key changed is followed without operator action (unless pinned)."""
        keys = await identities.histories(self.node.store)
        for profile in profiles:
            org = did_from_raw(keys.resolve(profile.author))
            nodes = {}
            for entry in profile.body.get("nodes", []):
                with contextlib.suppress(ConfigError):
                    nodes[normalise_url(entry["url"])] = did_from_raw(entry["key"])
            self.node.peers.note_node_keys(org, profile.created, frozenset(nodes.values()))
            newest = self.node.peers.node_keys.get(org)
            if newest is None or newest[0] != profile.created:
                continue
            for url, node_key in nodes.items():
                self.node.peers.learn(node_key, url, org)
                row = await self.state.get(url)
                pinned = any(p.url == url and p.node_key for p in self.seeds)
                if row is not None and row.node_key not in (None, node_key) and not pinned:
                    await self.state.set_identity(url, node_key, org)
                    log.info("peer %s now signs with node key %s", url, node_key)

    async def _follow_logged(self, profiles: list[Record]) -> None:
        try:
            await self._follow_node_keys(profiles)
        except Exception:
            log.exception("following node keys failed")

    async def _load_node_keys(self) -> None:
        """At start: what the held profiles say about node keys, oldest first."""
        wires = await self.node.store.live_of_kinds([kinds.ORG_PROFILE])
        await self._follow_logged([parse(wire) for wire in wires])

    def contacted(self, node_key: str) -> None:
        """A peer just reached us with a signed request: it is up, so stop backing off."""
        identity = self.node.peers.by_key.get(node_key)
        sender = self.senders.get(identity.url) if identity and identity.url else None
        if sender is not None:
            sender.contacted()

    async def _learn(self, urls: list[str]) -> None:
        fed = self.node.config.federation
        for url in urls:
            try:
                url = normalise_url(url)
            except ConfigError:
                continue
            if url == self.node.config.public_url or url in fed.deny_urls:
                continue
            if len(await self.state.all()) >= fed.max_peers * 4:
                return
            if await self.state.get(url) is None:
                await self.add_peer(url, LEARNED)
                log.info("learned peer %s", url)
        await self._update_senders()

    async def _learn_logged(self, urls: list[str]) -> None:
        try:
            await self._learn(urls)
        except Exception:
            log.exception("learning peers from a profile failed")

    async def _recovered(self, url: str) -> None:
        log.info("peer %s is back", url)
        self.request_sync(url)

    # ----- anti-entropy
    def request_sync(self, url: str) -> None:
        if url not in self._sync_queue:
            self._sync_queue.append(url)
        self._sync_now.set()

    async def _anti_entropy_loop(self) -> None:
        await self.index.ready.wait()
        turn = 0
        while True:
            interval = self.node.config.federation.anti_entropy_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sync_now.wait(), interval)
            self._sync_now.clear()
            peers = await self.active_peers()
            if self._sync_queue:
                targets = [u for u in self._sync_queue if u in peers]
                self._sync_queue.clear()
            elif peers:
                targets = [peers[turn % len(peers)]]
                turn += 1
            else:
                targets = []
            for url in targets:  # one peer at a time
                try:
                    await self.sync_with(url)
                except Exception:  # a bug, or a peer's answer we did not foresee, must not
                    log.exception("sync with %s failed unexpectedly", url)  # end the loop
                    await self.state.failed(url, self.node.clock.now_ms(), "sync: internal error")

    async def sync_with(self, url: str) -> SyncReport | None:
        async with self._sync_lock:
            try:
                key = await self._identify(url)
                report = await asyncio.wait_for(
                    anti_entropy(
                        self.client(url), self.index.items, self.node.store, self.node.ingestor, key
                    ),
                    SESSION_TIMEOUTS * self.node.config.federation.request_timeout,
                )
            except TimeoutError:
                await self._sync_failed(url, "sync: session over its deadline")
                return None
            except (TransportError, RemoteRefusal, Rejected) as exc:  # Rejected: a bad reply
                await self._sync_failed(url, f"sync: {exc}")
                return None
            await self.state.synced(url, self.node.clock.now_ms())
            await self.state.succeeded(url, self.node.clock.now_ms())
            self.sync_reports[url] = report
            log.info(
                "synced with %s: %d rounds, %d B, fetched %d, sent %d",
                url,
                report.rounds,
                report.reconcile_bytes,
                report.fetched,
                report.sent,
            )
            if self.node.config.federation.learn_peers:
                await self._learn_from(url)
            return report

    async def _sync_failed(self, url: str, error: str) -> None:
        failures = await self.state.failed(url, self.node.clock.now_ms(), error)
        level = logging.WARNING if failures == 1 else logging.DEBUG  # once per transition
        log.log(level, "peer %s is down: %s (failure %d)", url, error, failures)

    async def _learn_from(self, url: str) -> None:
        try:
            listed = await self.client(url).peers()
        except (TransportError, RemoteRefusal):
            return
        await self._learn([p["url"] for p in listed[:64] if isinstance(p.get("url"), str)])

    # ----- reporting
    async def peer_table(self) -> list[dict[str, Any]]:
        rows = await self.state.all()
        active = set(await self.active_peers())
        table = []
        for url, row in rows.items():
            sender = self.senders.get(url)
            table.append(
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
                    "backoff": max(0.0, round(sender.retry_at - self.node.clock.monotonic(), 1))
                    if sender
                    else 0.0,
                }
            )
        return table
