"""``peers.toml``: the peers an operator chose (see ``peers.example.toml`` for every setting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crypto import InvalidDid, raw_from_did
from node.tomlfile import ConfigError, dumps, read_toml, write_atomically

HEADER = """Peers of this node: one [[peer]] table each (see peers.example.toml).
Edit with `rakuichi peers add|remove|deny`; a running node picks changes up by itself."""


@dataclass(frozen=True)
class SeedPeer:
    url: str
    name: str = ""
    node_key: str = ""  # pinned did:key; empty: whatever key the peer's well-known names

    @property
    def pinned(self) -> bytes | None:
        """The pinned node key, raw (``read_peers`` checked it), or None."""
        return raw_from_did(self.node_key) if self.node_key else None

    def to_toml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"url": self.url}
        if self.name:
            entry["name"] = self.name
        if self.node_key:
            entry["node_key"] = self.node_key
        return entry


def normalise_url(url: str) -> str:
    """A peer's base URL, checked: http(s), a host, no query or fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"peer url must be http(s)://host[:port][/path], not {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"peer url must not have a query or fragment: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"peer url has a bad port: {url!r}") from None
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def read_peers(path: Path) -> list[SeedPeer]:
    data = read_toml(path) if path.exists() else {}
    entries = data.get("peer", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: peer must be an array of tables ([[peer]])")
    peers: list[SeedPeer] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: peer #{i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError(f"{where}: url is required")
        unknown = set(entry) - {"url", "name", "node_key"}
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        url = normalise_url(entry["url"])
        node_key = entry.get("node_key", "")
        if node_key:
            try:
                raw_from_did(node_key)
            except InvalidDid as exc:
                raise ConfigError(f"{where}: node_key: {exc}") from None
        if url not in seen:
            seen.add(url)
            peers.append(SeedPeer(url, str(entry.get("name", "")), node_key))
    return peers


def write_peers(path: Path, peers: list[SeedPeer]) -> None:
    write_atomically(path, dumps({"peer": [p.to_toml() for p in peers]}, HEADER))
