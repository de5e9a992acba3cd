"""Who a signing peer is, and whether the operator's policy lets it in."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from crypto.httpsig import ReplayCache
from node.config import FederationConfig
from node.federation.budget import SessionBudget
from node.keytext import KeyText


@dataclass(frozen=True)
class PeerIdentity:
    node_key: bytes
    url: str | None
    org: bytes | None
    # bound by proof: the peer's own well-known document read from ``url``, or a pin; an
    # identity only claimed by some organisation's profile is not used to deny anyone
    proven: bool = False


class PeerDirectory:
    """Node keys seen on peers, with their URLs and organisations, and the replay cache.
    Keys (of nodes and organisations) are raw 32 bytes."""

    def __init__(self, replay_capacity: int = 100_000, max_keys: int = 10_000) -> None:
        self.by_key: OrderedDict[bytes, PeerIdentity] = OrderedDict()  # oldest learned first
        self.replay_cache = ReplayCache(max(1, replay_capacity))
        self.sessions = SessionBudget()  # what each peer's anti-entropy may make this node do
        self.seed_keys: set[bytes] = set()
        self.max_keys = max(1, max_keys)
        self.node_keys: dict[bytes, tuple[int, frozenset[bytes]]] = {}  # org -> newest profile's
        # node key -> (created of the profile that dropped it, the organisation that did)
        self.retired: dict[bytes, tuple[int, bytes]] = {}

    def note_node_keys(self, org: bytes, created: int, keys: frozenset[bytes]) -> None:
        """An ``org.profile`` of ``org`` lists ``keys``: a node key that its newest profile no
        longer lists is retired from that profile's ``created`` on."""
        known = self.node_keys.get(org)
        if known is not None and known[0] > created:
            for key in keys - known[1]:
                self.retired.setdefault(key, (known[0], org))
            return
        if known is not None:
            for key in known[1] - keys:
                self.retired[key] = (created, org)
        for key in keys:
            self.retired.pop(key, None)
        self.node_keys.pop(org, None)
        self.node_keys[org] = (created, keys)
        for table in (self.node_keys, self.retired):  # bounded like the learned keys
            while len(table) > self.max_keys:
                del table[next(iter(table))]

    def resolve_orgs(self, resolve: Callable[[bytes], bytes]) -> None:
        """Key events held since: an organisation's profiles noted under the key that signed
        them before this node knew whose key it was are joined with those noted under the
        identity it now ``resolve``s to, so a node key dropped between them is retired (a
        profile can arrive before the key events of its author)."""
        for key, (since, org) in list(self.retired.items()):
            identity = resolve(org)
            if identity != org:
                self.retired[key] = (since, identity)
        for org, (created, keys) in list(self.node_keys.items()):
            identity = resolve(org)
            if identity != org:
                del self.node_keys[org]
                self.note_node_keys(identity, created, keys)

    def listed_elsewhere(self, org: bytes | None, node_key: bytes) -> bool:
        """Whether ``org``'s newest profile lists node keys, and not ``node_key``."""
        listed = self.node_keys.get(org) if org is not None else None
        return listed is not None and bool(listed[1]) and node_key not in listed[1]

    def retired_too_long(self, node_key: bytes, now_ms: int, grace_s: float) -> bool:
        """Whether ``node_key`` was retired more than ``grace_s`` ago by the organisation it
        is proven to serve (its own well-known document, or a pin): another organisation's
        profile that names and then drops the key retires nothing."""
        retired = self.retired.get(node_key)
        identity = self.by_key.get(node_key)
        if retired is None or identity is None or not identity.proven:
            return False
        since, org = retired
        return identity.org == org and now_ms > since + grace_s * 1000

    def learn(
        self, node_key: bytes, url: str | None, org: bytes | None, proven: bool = True
    ) -> None:
        """``node_key`` answers at ``url`` for ``org``: proven (its well-known document, a
        pin), or only claimed by ``org``'s profile. A claim never rebinds a proven key."""
        known = self.by_key.pop(node_key, None)
        if known is not None and known.proven and not proven:
            self.by_key[node_key] = known
            return
        self.by_key[node_key] = PeerIdentity(
            node_key,
            url or (known.url if known else None),
            org or (known.org if known else None),
            proven or (known.proven if known else False),
        )
        while len(self.by_key) > self.max_keys:  # bounded: the oldest learned key goes
            self.by_key.popitem(last=False)

    def bind_by_proof(self, node_key: bytes, url: str, org: bytes | None) -> bool:
        """``url``'s own well-known document names ``node_key`` (read because ``url`` is
        denied): bind the key there, so that its requests are refused at once. Not when the
        key is proven for another URL already: a denied URL that names an honest peer's key
        gets nobody refused."""
        known = self.by_key.get(node_key)
        if known is not None and known.proven and known.url not in (None, url):
            return False
        self.learn(node_key, url, org, proven=True)
        return True

    def proven_urls(self) -> set[str]:
        return {i.url.rstrip("/") for i in self.by_key.values() if i.proven and i.url}

    def known(self, node_key: bytes) -> bool:
        """A peer this node knows: pinned in peers.toml or learned with its URL."""
        return node_key in self.seed_keys or node_key in self.by_key

    def denial(self, node_key: bytes, federation: FederationConfig) -> str | None:
        """Why requests signed by ``node_key`` are refused, or None when they are welcome."""
        if node_key in federation.deny_orgs:
            return f"node {KeyText(node_key)} is denied by this node"
        identity = self.by_key.get(node_key)
        if identity is not None and identity.proven:
            if identity.org and identity.org in federation.deny_orgs:
                return f"organisation {KeyText(identity.org)} is denied by this node"
            if identity.url and identity.url.rstrip("/") in federation.deny_urls:
                return f"peer {identity.url} is denied by this node"
        if federation.allow_only and node_key not in self.seed_keys:
            return "this node only accepts the peers its operator listed (allow-only mode)"
        return None
