"""Creating a node's home directory (``rakuichi init``)."""

from __future__ import annotations

import time
from pathlib import Path

from crypto import SigningKey, did_from_raw, save_signing_key
from node.config import (
    CONFIG_FILE,
    DEFAULT_LISTEN,
    NODE_KEY_FILE,
    ORG_KEY_FILE,
    PEERS_FILE,
    FederationConfig,
    parse_listen,
)
from node.keyring import incept
from node.tomlfile import ConfigError, dumps, write_atomically

PEERS_HEADER = """Peers of this node: one [[peer]] table each (see peers.example.toml).
Edit with `rakuichi peers add|remove|deny`; a running node picks changes up by itself."""


def init_home(
    home: Path,
    name: str,
    listen: str = DEFAULT_LISTEN,
    url: str = "",
    passphrase: str | None = None,
    key_events: bool = True,
) -> dict[str, str]:
    """Create ``home`` with its config, peers file and keys; refuse an existing home.

    With ``key_events`` (the default) the organisation gets a key history: a first key whose
    did is the organisation's identity, a signing key in ``org.key`` and a committed rotation
    key in ``org.key.next`` (revision 3 proposal). Without, ``org.key`` is the identity's only
    key (revision 2)."""
    if (home / CONFIG_FILE).exists():
        raise ConfigError(f"{home}: already a node home (config.toml exists); not overwriting")
    if not name.strip():
        raise ConfigError("--name must not be empty")
    parse_listen(listen)
    home.mkdir(parents=True, exist_ok=True)
    node = SigningKey.generate()
    if key_events:
        event = incept(home / ORG_KEY_FILE, passphrase, time.time_ns() // 1_000_000)
        org_did = did_from_raw(event.author)
    else:
        org = SigningKey.generate()
        save_signing_key(home / ORG_KEY_FILE, org, passphrase)
        org_did = org.public_key.did
    save_signing_key(home / NODE_KEY_FILE, node, passphrase)
    write_atomically(home / PEERS_FILE, dumps({}, PEERS_HEADER))
    fed = FederationConfig()  # the defaults, written out for the operator to see and edit
    config = {
        "node": {"name": name, "listen": listen, "url": url},
        "identity": {"org": org_did, "node": node.public_key.did},
        "federation": {
            "push_interval": fed.push_interval,
            "anti_entropy_interval": fed.anti_entropy_interval,
            "max_peers": fed.max_peers,
            "learn_peers": fed.learn_peers,
            "learn_private": fed.learn_private,
            "allow_only": fed.allow_only,
            "deny_orgs": [],
            "deny_urls": [],
        },
    }
    write_atomically(
        home / CONFIG_FILE, dumps(config, "Rakuichi node configuration (see README.md).")
    )
    return {"org": org_did, "node": node.public_key.did}
