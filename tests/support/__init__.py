"""Helpers for node and federation tests: real nodes on 127.0.0.1, and signed records.

Import from here: ``from tests.support import make_home, running_node, NodeProcess, Cast``.
The fixtures (``node_process``, and the autouse one that kills leftover node processes) are in
``tests.support.fixtures``; a ``conftest.py`` brings them in with
``from tests.support.fixtures import *``.
"""

from tests.support.nodes import (
    REPO_ROOT,
    NodeProcess,
    base_url,
    free_port,
    http_get_json,
    make_home,
    rakuichi_command,
    run_cli,
    running_node,
    subprocess_env,
)
from tests.support.records import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    did,
    fresh_key,
    member_profile,
    now_ms,
    one_of_every_kind,
    opportunity,
    org_did,
    org_profile,
    raw,
    reply,
    retract,
    seeded_key,
    unknown_kind,
    wires,
)

__all__ = [
    "REPO_ROOT",
    "Cast",
    "NodeProcess",
    "alliance",
    "alliance_end",
    "attestation",
    "base_url",
    "did",
    "free_port",
    "fresh_key",
    "http_get_json",
    "make_home",
    "member_profile",
    "now_ms",
    "one_of_every_kind",
    "opportunity",
    "org_did",
    "org_profile",
    "rakuichi_command",
    "raw",
    "reply",
    "retract",
    "run_cli",
    "running_node",
    "seeded_key",
    "subprocess_env",
    "unknown_kind",
    "wires",
]
