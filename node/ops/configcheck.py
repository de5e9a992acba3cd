"""``rakuichi config check`` and the check at start: config.toml and peers.toml validated whole.

Every problem is one line naming the file, the table and the key: unknown tables and keys
(with the nearest known name: "did you mean ..."), wrong types, values out of range.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from node.config import (
    CONFIG_FILE,
    PEERS_FILE,
    FederationConfig,
    NodeConfig,
    config_from_data,
    range_problems,
)
from node.federation.peersfile import read_peers
from node.limits import Limits
from node.tomlfile import ConfigError, read_toml

_KEY_IN_MESSAGE = re.compile(r"\[(\w+)\]\.(\w+)")
PEER_KEYS = ("url", "name", "node_key")
MAX_PROBLEMS = 100


def known_settings() -> dict[str, set[str]]:
    """table -> the keys this software reads there."""
    return {
        "node": {f.name for f in fields(NodeConfig)}
        - {"home", "federation", "limits", "storage_url"},
        "storage": {"url"},
        "identity": {"org", "node"},
        "federation": {f.name for f in fields(FederationConfig)},
        "limits": {f.name for f in fields(Limits)},
    }


def did_you_mean(name: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown(path: Path, data: dict[str, Any]) -> list[str]:
    """Unknown tables and keys; they are taken out of ``data`` so the rest can be checked."""
    known = known_settings()
    problems = []
    for table in list(data):
        content = data[table]
        if table not in known:
            problems.append(f"{path}: unknown table [{table}]{did_you_mean(table, set(known))}")
            del data[table]
            continue
        if not isinstance(content, dict):
            continue  # config_from_data names it
        for key in list(content):
            if key not in known[table]:
                hint = did_you_mean(key, known[table])
                problems.append(f"{path}: [{table}].{key} is not a setting{hint}")
                del content[key]
    return problems


def config_problems(home: Path) -> list[str]:
    """Every problem of ``home/config.toml``, one line each (empty: good)."""
    path = home / CONFIG_FILE
    try:
        data = read_toml(path)
    except ConfigError as exc:
        return [str(exc)]
    problems = _unknown(path, data)
    working = copy.deepcopy(data)
    for _ in range(MAX_PROBLEMS):
        try:
            config = config_from_data(home, working)
        except ConfigError as exc:
            problems.append(str(exc))
            match = _KEY_IN_MESSAGE.search(str(exc))
            table = working.get(match.group(1)) if match else None
            if not match or not isinstance(table, dict) or match.group(2) not in table:
                return problems  # nothing to take out and look further
            del table[match.group(2)]  # that key's default, to find the next problem
            continue
        return problems + range_problems(config)
    return problems


def peers_problems(home: Path) -> list[str]:
    path = home / PEERS_FILE
    if not path.exists():
        return []
    try:
        data = read_toml(path)
    except ConfigError as exc:
        return [str(exc)]
    problems = []
    for table in data:
        if table != "peer":
            problems.append(f"{path}: unknown table [{table}]{did_you_mean(table, {'peer'})}")
    entries = data.get("peer", [])
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        for key in list(entry) if isinstance(entry, dict) else []:
            if key not in PEER_KEYS:
                hint = did_you_mean(key, set(PEER_KEYS))
                problems.append(f"{path}: peer #{i + 1}: {key} is not a setting{hint}")
                del entry[key]
    if problems:
        return problems
    try:
        read_peers(path)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def home_problems(home: Path) -> list[str]:
    """config.toml then peers.toml: what ``config check`` prints and ``run`` refuses on."""
    return config_problems(home) + peers_problems(home)
