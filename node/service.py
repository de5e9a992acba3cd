"""The composition root: one node built from its parts, passed in (config, keys, store, clock)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from node.clock import Clock, SystemClock
from node.config import (
    NODE_KEY_FILE,
    ORG_KEY_FILE,
    FederationConfig,
    NodeConfig,
    NodeKeys,
    load_keys,
)
from node.domains import DomainProofs
from node.federation.directory import PeerDirectory
from node.ingest import Ingestor, Outcome, operator_policy
from node.keyring import events_path, read_events
from node.keytext import KeyText
from node.quotas import StorageQuotas
from node.storage.engines import open_record_store
from node.storage.faults import StorageGuard
from node.storage.identities import HistoryCache
from node.storage.interface import RecordStore
from node.verifier import Verifier
from protocol import Policy, Record, kinds, parse, sign_record

log = logging.getLogger("rakuichi.node")


@dataclass
class Node:
    config: NodeConfig
    keys: NodeKeys
    store: RecordStore
    clock: Clock
    verifier: Verifier
    ingestor: Ingestor = field(init=False)
    peers: PeerDirectory = field(init=False)
    storage_guard: StorageGuard = field(init=False)

    org_identity: bytes = field(init=False)
    key_histories: HistoryCache = field(init=False)
    domains: DomainProofs = field(init=False)
    _key_files: tuple[float, ...] = field(init=False, default=())
    # whether this process publishes the organisation's profile: in a node of several worker
    # processes only the one that leads the federation does, so the node signs one profile
    publishes_profile: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.ingestor = Ingestor(self.store, self.verifier, self.clock, self.policy)
        self.storage_guard = StorageGuard(
            self.config.database_path, self.config.limits.free_disk_floor, self.clock.monotonic
        )
        self.ingestor.before_write = self.storage_guard.before_write
        self.ingestor.quotas = StorageQuotas(
            self.config.limits, self.clock.monotonic, self.keys.org.public_key.raw
        )
        limits = self.config.limits
        self.peers = PeerDirectory(limits.replay_cache_size, limits.learned_keys)
        self.ingestor.quotas.known = self.peers.known
        self.org_identity = self.keys.org.public_key.raw
        self.key_histories = HistoryCache(self.store)
        self.store.on_commit.append(self.key_histories.on_commit)
        config = self.config
        self.domains = DomainProofs(self.clock, config.domain_recheck, config.domain_proof_base)
        self.store.on_commit.append(self.domains.on_commit)

    def _key_file_times(self) -> tuple[float, ...]:
        org_key = self.config.home / ORG_KEY_FILE
        times = []
        for path in (org_key, events_path(org_key), self.config.home / NODE_KEY_FILE):
            try:
                times.append(path.stat().st_mtime)
            except OSError:
                times.append(0.0)
        return tuple(times)

    async def sync_keys(self, passphrase: str | None = None, force: bool = False) -> bool:
        """Pick up the organisation's key events and current signing key from the home
        (``rakuichi keys rotate`` changes them while the node runs): publish the events, use
        the new key, and publish the profile signed with it. Returns whether anything changed."""
        times = self._key_file_times()
        if times == self._key_files and not force:
            return False
        org_key = self.config.home / ORG_KEY_FILE
        events = read_events(org_key)
        if events:
            outcomes = await self.ingestor.submit([e.wire for e in events], source=None)
            for event, outcome in zip(events, outcomes, strict=True):
                if outcome.refusal is not None:
                    log.error("own key event %s refused: %s", event.id.hex(), outcome.refusal)
        if times != self._key_files and self._key_files:
            self.keys = load_keys(self.config.home, passphrase)
        self.org_identity = events[0].author if events else self.keys.org.public_key.raw
        self._key_files = times
        if self.publishes_profile:
            await self.publish_profile_if_changed()
        log.info(
            "organisation %s signs with %s",
            KeyText(self.org_identity),
            KeyText(self.keys.org.public_key.raw),
        )
        return True

    def use_federation_config(self, federation: FederationConfig) -> None:
        """Put reloaded ``[federation]`` settings in force (the rest of the config stays)."""
        self.config = replace(self.config, federation=federation)

    def policy(self) -> Policy:
        return operator_policy(self.config.federation)

    async def publish(self, record: Record) -> Outcome:
        (outcome,) = await self.ingestor.submit([record.wire], source=None)
        return outcome

    def profile_body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "name": self.config.name,
            "nodes": [{"key": self.keys.node.public_key.raw, "url": self.config.public_url}],
        }
        if self.config.about:
            body["about"] = self.config.about
        if self.config.domain:
            body["domain"] = self.config.domain
        return body

    async def publish_profile_if_changed(self) -> Record | None:
        """Publish this organisation's ``org.profile`` unless the current one says the same."""
        current = await self.store.current_of(kinds.ORG_PROFILE, self.keys.org.public_key.raw)
        wanted = self.profile_body()
        if current is not None and current.wire is not None:
            held = parse(current.wire).body
            if all(held.get(k) == v for k, v in wanted.items()):
                return None
            # keep fields an operator published by hand (about, domain) unless config sets them
            wanted = {**held, **wanted}
        record = sign_record(self.keys.org, kinds.ORG_PROFILE, self.clock.now_ms(), wanted)
        outcome = await self.publish(record)
        if outcome.refusal is not None:
            raise RuntimeError(f"own profile refused: {outcome.refusal}")
        log.info("published org.profile %s for %s", record.id.hex(), KeyText(record.author))
        return record

    async def close(self) -> None:
        try:
            await self.domains.close()
            await self.store.close()
        finally:
            self.verifier.close()


async def open_node(
    config: NodeConfig,
    keys: NodeKeys,
    clock: Clock | None = None,
    verifier_workers: int | None = None,
) -> Node:
    store = await open_record_store(config)
    return Node(config, keys, store, clock or SystemClock(), Verifier(verifier_workers))
