"""A node's home: ``config.toml``, ``peers.toml``, its two keys and its database."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto import KeyFileError, SigningKey, load_signing_key, raw_from_did
from crypto.errors import InvalidDid
from node.limits import Limits, load_limits
from node.tomlfile import ConfigError, read_toml

CONFIG_FILE = "config.toml"
PEERS_FILE = "peers.toml"
ORG_KEY_FILE = "org.key"
NODE_KEY_FILE = "node.key"
DATABASE_FILE = "rakuichi.db"
DEFAULT_LISTEN = "127.0.0.1:8470"
PASSPHRASE_ENV = "RAKUICHI_PASSPHRASE"


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"listen must be HOST:PORT, not {text!r}")
    if not 1 <= int(port) <= 65535:
        raise ConfigError(f"listen port must be 1-65535, not {port} (in {text!r})")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class FederationConfig:
    """How the node replicates; every field is documented in README and docs/protocol.md."""

    push_interval: float = 0.5
    anti_entropy_interval: float = 30.0
    max_peers: int = 32
    learn_peers: bool = True
    learn_private: bool = False  # contact learned peers at loopback/private addresses too
    learned_peer_ttl: float = 3600.0  # seconds a learned peer may go without answering
    allow_only: bool = False
    deny_orgs: frozenset[bytes] = frozenset()
    deny_urls: frozenset[str] = frozenset()
    request_timeout: float = 10.0
    connect_timeout: float = 3.0
    max_backoff: float = 120.0
    signature_max_age: int = 300
    node_key_grace: float = 86_400.0  # seconds a retired node key of a peer is still accepted


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    name: str
    listen: str = DEFAULT_LISTEN
    url: str = ""
    about: str = ""
    max_body_bytes: int = 8 * 1024 * 1024
    rate_limit: float = 2000.0
    rate_burst: float = 10000.0
    admin_token: str = ""  # opens /metrics and /admin to other hosts (empty: loopback only)
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed
    search_rate_limit: float = 20.0  # full-text searches per second per client
    search_rate_burst: float = 60.0
    stream_heartbeat: float = 15.0  # seconds between heartbeat comments on /v1/stream
    stream_buffer_bytes: int = 4 * 1024 * 1024  # unwritten events a subscriber may hold
    stream_max_subscribers: int = 5000
    domain: str = ""  # the organisation's domain, published in its org.profile
    domain_recheck: float = 86400.0  # seconds before a domain proof is checked again
    domain_proof_base: str = ""  # test/dev only: replaces https://DOMAIN when fetching proofs
    storage_url: str = (
        ""  # [storage] url: sqlite:///PATH (default: the home's file) or postgresql://
    )
    federation: FederationConfig = field(default_factory=FederationConfig)
    limits: Limits = field(default_factory=Limits)
    url_aliases: tuple[str, ...] = ()  # other base URLs peers may sign requests to this node for

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @property
    def public_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        host, port = self.host_port
        return f"http://{host}:{port}"

    @property
    def database_path(self) -> Path:
        """The SQLite file (``[storage] url = "sqlite:///PATH"``, else the home's)."""
        if self.storage_url.startswith(SQLITE_SCHEME):
            path = Path(self.storage_url[len(SQLITE_SCHEME) :])  # sqlite:////abs, sqlite:///rel
            return path if path.is_absolute() else self.home / path
        return self.home / DATABASE_FILE

    @property
    def postgresql_dsn(self) -> str | None:
        """The PostgreSQL DSN when ``[storage] url`` names one, else None (SQLite)."""
        return self.storage_url if self.storage_url.startswith(POSTGRES_SCHEMES) else None

    @property
    def peers_path(self) -> Path:
        return self.home / PEERS_FILE

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILE


# (table, key) -> (lowest allowed, whether the lowest itself is allowed)
RANGES: dict[tuple[str, str], tuple[float, bool]] = {
    ("node", "max_body_bytes"): (1024, True),
    ("node", "rate_limit"): (0, True),  # 0: no rate limit
    ("node", "rate_burst"): (1, True),
    ("federation", "push_interval"): (0, False),
    ("federation", "anti_entropy_interval"): (0, False),
    ("federation", "max_peers"): (1, True),
    ("federation", "request_timeout"): (0, False),
    ("federation", "connect_timeout"): (0, False),
    ("federation", "max_backoff"): (0, False),
    ("federation", "learned_peer_ttl"): (0, False),
    ("federation", "signature_max_age"): (1, True),
}


def range_problems(config: NodeConfig) -> list[str]:
    """Every value of ``config`` outside its range, one line each naming file, table and key."""
    problems = []
    for (table, key), (lowest, inclusive) in RANGES.items():
        holder = config.federation if table == "federation" else config
        value = getattr(holder, key)
        if value < lowest or (value == lowest and not inclusive):
            bound = f">= {lowest:g}" if inclusive else f"> {lowest:g}"
            problems.append(f"{config.config_path}: [{table}].{key} must be {bound}, not {value!r}")
    return problems


def _networks(values: list[str], where: str) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where}.trusted_proxies: {value!r} is not an IP address or network"
            ) from None
    return tuple(values)


def _dids(values: Any, where: str) -> frozenset[bytes]:
    if not isinstance(values, list):
        raise ConfigError(f"{where} must be a list of did:key strings")
    try:
        return frozenset(raw_from_did(v) for v in values)
    except InvalidDid as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _typed(table: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key} must be {kind.__name__}, not {value!r}")
    return value


def _strings(table: dict[str, Any], key: str, where: str) -> list[str]:
    values = _typed(table, key, list, [], where)
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}.{key} must be a list of strings, not {values!r:.80}")
    return values


SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _storage_url(data: dict[str, Any], path: Path) -> str:
    table = data.get("storage", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [storage] must be a table, not {table!r:.40}")
    url = _typed(table, "url", str, "", f"{path}: [storage]")
    if url and not url.startswith((SQLITE_SCHEME, *POSTGRES_SCHEMES)):
        raise ConfigError(
            f"{path}: [storage].url must start with sqlite:/// or postgresql://, not {url!r:.60}"
        )
    return url


def load_config(home: Path) -> NodeConfig:
    """Read ``home/config.toml``; raises ``ConfigError`` naming the file and the bad value."""
    config = config_from_data(home, read_toml(home / CONFIG_FILE))
    problems = range_problems(config)
    if problems:
        raise ConfigError(problems[0])
    return config


def config_from_data(home: Path, data: dict[str, Any]) -> NodeConfig:
    """The config of parsed ``config.toml`` data: types checked, ranges not (see
    ``range_problems``); the first bad value raises ``ConfigError``."""
    path = home / CONFIG_FILE
    node, fed = data.get("node", {}), data.get("federation", {})
    for name, table in (("node", node), ("federation", fed)):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table, not {table!r:.40}")
    where = f"{path}: [federation]"
    defaults = FederationConfig()
    federation = FederationConfig(
        push_interval=_typed(fed, "push_interval", float, defaults.push_interval, where),
        anti_entropy_interval=_typed(
            fed, "anti_entropy_interval", float, defaults.anti_entropy_interval, where
        ),
        max_peers=_typed(fed, "max_peers", int, defaults.max_peers, where),
        learn_peers=_typed(fed, "learn_peers", bool, defaults.learn_peers, where),
        learn_private=_typed(fed, "learn_private", bool, defaults.learn_private, where),
        learned_peer_ttl=_typed(fed, "learned_peer_ttl", float, defaults.learned_peer_ttl, where),
        allow_only=_typed(fed, "allow_only", bool, defaults.allow_only, where),
        deny_orgs=_dids(fed.get("deny_orgs", []), f"{where}.deny_orgs"),
        deny_urls=frozenset(u.rstrip("/") for u in _strings(fed, "deny_urls", where)),
        request_timeout=_typed(fed, "request_timeout", float, defaults.request_timeout, where),
        connect_timeout=_typed(fed, "connect_timeout", float, defaults.connect_timeout, where),
        max_backoff=_typed(fed, "max_backoff", float, defaults.max_backoff, where),
        node_key_grace=_typed(fed, "node_key_grace", float, defaults.node_key_grace, where),
        signature_max_age=_typed(fed, "signature_max_age", int, defaults.signature_max_age, where),
    )
    where = f"{path}: [node]"
    config = NodeConfig(
        home=home,
        name=_typed(node, "name", str, "", where),
        listen=_typed(node, "listen", str, DEFAULT_LISTEN, where),
        url=_typed(node, "url", str, "", where),
        about=_typed(node, "about", str, "", where),
        max_body_bytes=_typed(node, "max_body_bytes", int, 8 * 1024 * 1024, where),
        rate_limit=_typed(node, "rate_limit", float, 2000.0, where),
        rate_burst=_typed(node, "rate_burst", float, 10000.0, where),
        admin_token=_typed(node, "admin_token", str, "", where),
        trusted_proxies=_networks(_strings(node, "trusted_proxies", where), where),
        search_rate_limit=_typed(node, "search_rate_limit", float, 20.0, where),
        search_rate_burst=_typed(node, "search_rate_burst", float, 60.0, where),
        stream_heartbeat=_typed(node, "stream_heartbeat", float, 15.0, where),
        stream_buffer_bytes=_typed(node, "stream_buffer_bytes", int, 4 * 1024 * 1024, where),
        stream_max_subscribers=_typed(node, "stream_max_subscribers", int, 5000, where),
        domain=_typed(node, "domain", str, "", where),
        domain_recheck=_typed(node, "domain_recheck", float, 86400.0, where),
        domain_proof_base=_typed(node, "domain_proof_base", str, "", where),
        storage_url=_storage_url(data, path),
        federation=federation,
        limits=load_limits(data.get("limits", {}), f"{path}: [limits]"),
        url_aliases=tuple(u.rstrip("/") for u in _strings(node, "url_aliases", where)),
    )
    if config.stream_heartbeat <= 0 or config.stream_buffer_bytes <= 0:
        raise ConfigError(f"{where}.stream_heartbeat and stream_buffer_bytes must be positive")
    if config.domain_recheck <= 0:
        raise ConfigError(f"{where}.domain_recheck must be positive")
    if not config.name:
        raise ConfigError(f"{where}.name is required")
    try:
        config.host_port  # noqa: B018 - validates listen
    except ConfigError as exc:
        raise ConfigError(f"{where}.listen: {exc}") from None
    return config


def passphrase_from_env() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


@dataclass(frozen=True)
class NodeKeys:
    org: SigningKey
    node: SigningKey


def load_keys(home: Path, passphrase: str | None = None) -> NodeKeys:
    passphrase = passphrase or passphrase_from_env()
    try:
        return NodeKeys(
            org=load_signing_key(home / ORG_KEY_FILE, passphrase),
            node=load_signing_key(home / NODE_KEY_FILE, passphrase),
        )
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None
