"""The peer table: which peers this node knows, which it talks to, and who they are.

Seeds come from peers.toml; learned peers from organisation profiles and peers' peer lists.
Each peer's row (identity, cursor, failures) is in the storage's ``PeerStore``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from node.clock import Clock
from node.config import FederationConfig
from node.federation.clients import ClientPool
from node.federation.directory import PeerDirectory
from node.federation.peersfile import SeedPeer, normalise_url
from node.keytext import KeyText
from node.storage.interface import PeerStore
from node.storage.peers import LEARNED, SEED
from node.tomlfile import ConfigError
from node.transport import (
    NodeClient,
    RemoteRefusal,
    TransportError,
    listed_peers,
    well_known_keys,
)
from protocol import Record

log = logging.getLogger("rakuichi.federation")
MAX_LISTED = 64  # entries read from one peer's list
LEARN_PER_LIST = 8  # new peers taken from one peer's list at most
# A peer that does not advertise ``max_body_bytes`` (before revision 2) takes the default.
DEFAULT_PEER_BODY_LIMIT = 8 * 1024 * 1024
REREAD_INTERVAL = 5.0  # seconds between re-reads of every peer's identity (one GET each)
MIN_PEER_BODY_LIMIT = 1024  # the least a node may configure


class PeerRoster:
    def __init__(
        self,
        state: PeerStore,
        clients: ClientPool,
        directory: PeerDirectory,
        clock: Clock,
        settings: Callable[[], FederationConfig],
        own_url: str,
        on_new_peer: Callable[[str], None],
    ) -> None:
        self.state = state
        self.clients = clients
        self.directory = directory
        self.clock = clock
        self.settings = settings
        self.own_url = own_url
        self.on_new_peer = on_new_peer
        self.seeds: list[SeedPeer] = []
        # URLs whose well-known document was read since the last unknown signer: their stored
        # node key is current. Emptied when a request comes signed by a node key no peer is
        # known by (a peer rotated its key), so that every peer is read again once.
        self.confirmed: set[str] = set()
        self.body_limits: dict[str, int] = {}  # the largest request body each peer takes
        # learned URL -> its learning slot: the organisation whose profile named it (or the
        # organisation a peer's list gave for it): one organisation's URLs take one slot
        self.slots: dict[str, bytes | str] = {}  # raw organisation key, or a list's entry
        self._learn_lock = asyncio.Lock()
        self._next_reread = 0.0

    def unknown_signer(self) -> None:
        """A request came signed by a node key no known peer has: re-read identities (at most
        once every few seconds, so that requests signed by made-up keys cost little)."""
        now = self.clock.monotonic()
        if now >= self._next_reread:
            self._next_reread = now + REREAD_INTERVAL
            self.confirmed.clear()

    def body_limit(self, url: str) -> int:
        """The largest request body ``url`` advertised (the default until it was read)."""
        return self.body_limits.get(url, DEFAULT_PEER_BODY_LIMIT)

    async def remember_identities(self) -> None:
        """Who signs as whom, from the rows kept across restarts (for ``deny_urls``)."""
        for url, row in (await self.state.all()).items():
            if row.node_key:
                self.directory.learn(row.node_key, url, row.org)

    def denied(self, url: str, node_key: bytes | None, org: bytes | None) -> bool:
        fed = self.settings()
        if url in fed.deny_urls:
            return True
        return any(key is not None and key in fed.deny_orgs for key in (node_key, org))

    async def active(self) -> list[str]:
        """Seeds first, then learned peers (unless allow-only), up to ``max_peers``."""
        fed = self.settings()
        rows = await self.state.all()
        chosen = [p.url for p in self.seeds]
        if not fed.allow_only and fed.learn_peers:  # by recent success, then fewest failures
            learned = [row for row in rows.values() if row.source == LEARNED]
            learned.sort(key=lambda r: (-(r.last_success or 0), r.failures, r.added))
            chosen += [row.url for row in learned]
        active: list[str] = []
        for url in chosen:
            row = rows.get(url)
            if url == self.own_url or url in active:
                continue
            if row is not None and self.denied(url, row.node_key, row.org):
                continue
            active.append(url)
        return active[: fed.max_peers]

    async def add(self, url: str, source: str) -> bool:
        """Remember a peer; a new one starts at the current end of the outbox and is synced."""
        new = await self.state.ensure(url, source, await self.state.max_seq(), self.clock.now_ms())
        if new:
            self.on_new_peer(url)
        return new

    async def use_seeds(self, seeds: list[SeedPeer], deny_urls: frozenset[str]) -> None:
        """Take the seeds of peers.toml; a seed no longer listed is forgotten."""
        self.seeds = seeds
        self.directory.seed_keys = {p.pinned for p in seeds if p.pinned}
        for seed in seeds:
            await self.add(seed.url, SEED)
        listed = {p.url for p in seeds}
        for url, row in (await self.state.all()).items():
            # a denied peer's row is kept: its node key is how its requests are recognised
            if row.source == SEED and url not in listed and url not in deny_urls:
                await self.state.forget(url)

    async def identify(self, url: str) -> bytes:
        """The peer's node key, from its well-known document (and checked): read once per
        process, and again after a request signed by an unknown node key, so that a peer that
        rotated its node key is re-learned without an operator. The document also gives the
        peer's body limit, which bounds the batches sent to it."""
        row = await self.state.get(url)
        if row is not None and row.node_key and url in self.confirmed:
            return row.node_key
        answer = await self.clients.client(url).identity()
        node_key, org = well_known_keys(url, answer)
        pinned = next((p.pinned for p in self.seeds if p.url == url and p.pinned), None)
        if pinned and pinned != node_key:
            raise TransportError(
                f"{url}: node key {KeyText(node_key)} is not the pinned {KeyText(pinned)}"
            )
        if self.denied(url, node_key, org):
            raise TransportError(f"{url}: denied by this node's policy")
        if row is not None and row.node_key and row.node_key != node_key:
            log.warning(
                "peer %s now signs as %s (was %s): re-learned",
                url,
                KeyText(node_key),
                KeyText(row.node_key),
            )
        limit = answer.get("max_body_bytes")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= MIN_PEER_BODY_LIMIT:
            self.body_limits[url] = limit
        await self.state.set_identity(url, node_key, org)
        self.directory.learn(node_key, url, org)
        if self.directory.listed_elsewhere(org, node_key):
            # the organisation's newest profile lists other node keys: a node of several
            # processes takes a new key one process at a time, so this answer may predate the
            # profile. Not confirmed: the next contact reads the document again.
            log.info("peer %s answers as %s, not a key its profile lists", url, KeyText(node_key))
        else:
            self.confirmed.add(url)
        return node_key

    def note_nodes(self, profile: Record) -> None:
        """Remember which node keys answer at which URLs for an organisation (its profile)."""
        for entry in profile.body.get("nodes", []):
            try:
                url = normalise_url(entry["url"])
            except ConfigError:
                continue
            self.directory.learn(entry["key"], url, profile.author, proven=False)
            self.confirmed.discard(url)  # the profile may name a new node key: read it again

    async def learn(self, urls: list[str], slot: bytes | str) -> bool:
        """``_learn`` one at a time: profiles committed together are learned from in tasks of
        their own, which must not all see room in the table at once."""
        async with self._learn_lock:
            return await self._learn(urls, slot)

    async def _learn(self, urls: list[str], slot: bytes | str) -> bool:
        """Add one of the peers ``urls`` named by ``slot`` (an organisation's profile, or the
        organisation a peer's list gives): one learning slot per organisation, so that a few
        profiles naming many URLs cannot fill the table. The table holds at most
        4 x ``max_peers`` rows. True when a peer was added."""
        fed = self.settings()
        rows = await self.state.all()
        learned = {url: row for url, row in rows.items() if row.source == LEARNED}
        if slot in self.slots.values() or any(row.org == slot for row in learned.values()):
            return False
        for url in urls:
            try:
                url = normalise_url(url)
            except ConfigError:
                continue
            if url == self.own_url or url in fed.deny_urls or url in rows:
                continue
            if len(rows) >= fed.max_peers * 4:
                return False
            await self.add(url, LEARNED)
            self.slots[url] = slot
            log.info("learned peer %s", url)
            return True
        return False

    async def prove_denied(self) -> int:
        """Read the well-known document of every denied URL whose node key is not proven yet
        and bind the key it names there (``PeerDirectory.bind_by_proof``): a deny by URL bites
        at once, not on the next contact (which the deny itself stops). Returns the keys
        bound."""
        bound = 0
        for url in sorted(self.settings().deny_urls - self.directory.proven_urls()):
            client = NodeClient(url, self.clients.session, signer=self.clients.signer)
            try:  # an operator's URL: read on the plain session, wherever it points
                node_key, org = well_known_keys(url, await client.identity())
            except (TransportError, RemoteRefusal):
                continue
            if self.directory.bind_by_proof(node_key, url, org):
                bound += 1
                log.info("denied peer %s proved to sign as %s: refused", url, KeyText(node_key))
        return bound

    async def age_out(self) -> list[str]:
        """Forget the learned peers that never answered, or that fail and last answered,
        more than ``learned_peer_ttl`` ago: their slots free up for others."""
        ttl_ms = self.settings().learned_peer_ttl * 1000
        now = self.clock.now_ms()
        gone = []
        for url, row in (await self.state.all()).items():
            silent = row.last_success is None or row.failures > 0
            since = row.last_success if row.last_success is not None else row.added
            if row.source == LEARNED and silent and now - since > ttl_ms:
                await self.state.forget(url)
                gone.append(url)
        for url in gone:
            self.slots.pop(url, None)
            self.body_limits.pop(url, None)
            self.confirmed.discard(url)
            self.clients.drop(url)
            log.info("forgot learned peer %s: no answer for %g s", url, ttl_ms / 1000)
        return gone

    async def learn_from(self, url: str) -> None:
        """Learn the peers that ``url`` lists."""
        try:
            listed = await self.clients.client(url).peers()
        except (TransportError, RemoteRefusal):
            return
        added = 0
        for peer_url, org in listed_peers(listed[:MAX_LISTED]):
            added += await self.learn([peer_url], org or f"listed by {url}: {peer_url}")
            if added >= LEARN_PER_LIST:
                return
