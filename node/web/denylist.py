"""The operator's deny list in ``config.toml`` (``[federation] deny_orgs`` and ``deny_urls``),
edited from /admin the way ``rakuichi peers deny`` edits it; a running node reloads it."""

from __future__ import annotations

from pathlib import Path

from crypto import InvalidDid, raw_from_did
from node.federation.peersfile import normalise_url
from node.tomlfile import ConfigError, dumps, read_toml, write_atomically

HEADER = "Rakuichi node configuration."


def _entry(target: str) -> tuple[str, str]:
    """(list name, normalised value) for a did:key or a peer URL; ValueError otherwise."""
    target = target.strip()
    if target.startswith("did:"):
        try:
            raw_from_did(target)
        except InvalidDid as exc:
            raise ValueError(str(exc)) from None
        return "deny_orgs", target
    try:
        return "deny_urls", normalise_url(target)
    except (ConfigError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def denied(config_path: Path) -> list[str]:
    fed = read_toml(config_path).get("federation", {})
    return [*fed.get("deny_orgs", []), *fed.get("deny_urls", [])]


def deny(config_path: Path, target: str) -> str:
    name, value = _entry(target)
    data = read_toml(config_path)
    listed = data.setdefault("federation", {}).setdefault(name, [])
    if value not in listed:
        listed.append(value)
        write_atomically(config_path, dumps(data, HEADER))
    return value


def undeny(config_path: Path, target: str) -> str:
    name, value = _entry(target)
    data = read_toml(config_path)
    fed = data.setdefault("federation", {})
    if value in fed.get(name, []):
        fed[name] = [v for v in fed[name] if v != value]
        write_atomically(config_path, dumps(data, HEADER))
    return value
