"""The ``[limits]`` table of ``config.toml``: what one client may hold or spend on this node.

Every value is named in docs/operations.md ("Limits and defences"). They bound what a stranger
on the internet can make the node do: connections held open, bodies buffered, bytes stored,
expensive reads, in-memory tables.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from node.tomlfile import ConfigError

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # connections (node/guard.py)
    header_timeout: float = 10.0  # request line and headers complete, seconds from accept
    idle_timeout: float = 30.0  # a kept-alive connection with no request is closed after this
    connections_per_address: int = 64  # concurrent connections from one remote address
    # bodies (node/api/bodies.py)
    body_grace: float = 10.0  # seconds a body may take before the minimum rate applies
    body_min_rate: int = 16 * KIB  # bytes per second, averaged from the start of the body
    body_bytes_in_flight: int = 64 * MIB  # request bodies buffered at once, all requests
    # storage quotas (node/quotas.py)
    quota_window: float = 3600.0  # seconds over which the byte budgets below are counted
    quota_bytes_per_client: int = 64 * MIB  # record bytes per client address, per window
    quota_bytes_per_peer: int = 512 * MIB  # record bytes per peer (node key), per window
    quota_bytes_per_author: int = 64 * MIB  # record bytes stored per author, per window
    quota_bytes_unknown_kind: int = 1 * MIB  # per author, for kinds no view reads
    free_disk_floor: int = 256 * MIB  # below this free space on the database's disk: 507
    # expensive reads
    bundle_max_bytes: int = 4 * MIB  # a bundle posted to /v1/reputation/verify
    bundle_max_records: int = 2000  # records in a posted bundle (served ones: uncapped)
    # memory
    replay_cache_size: int = 100_000  # live request signatures remembered
    learned_keys: int = 10_000  # node keys learned from profiles, remembered


def load_limits(table: Any, where: str) -> Limits:
    """The limits of ``table`` (a ``[limits]`` TOML table); unknown keys and bad values are
    ``ConfigError`` naming ``where``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, not {table!r:.40}")
    defaults = Limits()
    known = {f.name: type(getattr(defaults, f.name)) for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = known.get(key)
        if kind is None:
            raise ConfigError(f"{where}.{key} is not a limit this node knows")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{where}.{key} must be {kind.__name__}, not {value!r:.40}")
        if value < 0:
            raise ConfigError(f"{where}.{key} must not be negative, not {value!r}")
        values[key] = value
    return Limits(**values)
