"""Who a signing peer is, and whether the operator's policy lets it in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from crypto import InvalidDid, raw_from_did
from crypto.httpsig import ReplayCache
from node.config import FederationConfig


@dataclass(frozen=True)
class PeerIdentity:
    node_key: str
    url: str | None
    org: str | None


class PeerDirectory:
    """Node keys seen on peers, with their URLs and organisations, and the replay cache."""

    def __init__(self, replay_capacity: int = 100_000, max_keys: int = 10_000) -> None:
        self.by_key: OrderedDict[str, PeerIdentity] = OrderedDict()  # oldest learned first
        self.replay_cache = ReplayCache(max(1, replay_capacity))
        self.seed_keys: set[str] = set()
        self.max_keys = max(1, max_keys)

    def learn(self, node_key: str, url: str | None, org: str | None) -> None:
        known = self.by_key.pop(node_key, None)
        self.by_key[node_key] = PeerIdentity(
            node_key, url or (known.url if known else None), org or (known.org if known else None)
        )
        while len(self.by_key) > self.max_keys:  # bounded: the oldest learned key goes
            self.by_key.popitem(last=False)

    def known(self, node_key: str) -> bool:
        """A peer this node knows: pinned in peers.toml or learned with its URL."""
        return node_key in self.seed_keys or node_key in self.by_key

    def denial(self, node_key: str, federation: FederationConfig) -> str | None:
        """Why requests signed by ``node_key`` are refused, or None when they are welcome."""
        try:
            raw = raw_from_did(node_key)
        except InvalidDid:
            return "the signing key is not a did:key"
        if raw in federation.deny_orgs:
            return f"node {node_key} is denied by this node"
        identity = self.by_key.get(node_key)
        if identity is not None:
            if identity.org and raw_or_none(identity.org) in federation.deny_orgs:
                return f"organisation {identity.org} is denied by this node"
            if identity.url and identity.url.rstrip("/") in federation.deny_urls:
                return f"peer {identity.url} is denied by this node"
        if federation.allow_only and node_key not in self.seed_keys:
            return "this node only accepts the peers its operator listed (allow-only mode)"
        return None


def raw_or_none(did: str) -> bytes | None:
    """The raw key of a did:key, or None when it is not one."""
    try:
        return raw_from_did(did)
    except InvalidDid:
        return None
