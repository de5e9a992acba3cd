"""Following peers' node-key rotations from ``org.profile`` records (revision 3 proposal).

A profile names its organisation's node keys (signed by the organisation): keys its newest
profile dropped are retired, and refused after ``node_key_grace`` when the key is proven to
serve that organisation. Every process that answers signed requests must follow them: the
federation does, and so does each worker of a node of several processes that does not lead
its federation (node/workers.py), or a retired key stays welcome there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from node.federation.peersfile import normalise_url
from node.service import Node
from node.tomlfile import ConfigError
from protocol import KEY_EVENT_KINDS, Record, kinds, parse

log = logging.getLogger("rakuichi.federation")


def bears_on_node_keys(records: list[Record]) -> bool:
    """Whether committing ``records`` may change which node keys are retired: a profile, or
    a key event that may tell whose key signed the profiles noted before it."""
    return any(r.kind == kinds.ORG_PROFILE or r.kind in KEY_EVENT_KINDS for r in records)


async def follow_node_keys(node: Node, records: list[Record]) -> None:
    """Note the node keys each ``org.profile`` among ``records`` lists, by the identity its
    author resolves to now (``node.peers`` retires the dropped ones). Following a URL's new
    key is the roster's job: a profile naming the URL makes its well-known document be read
    again (a claim never rebinds a proven key)."""
    keys = await node.key_histories.histories()
    if any(r.kind in KEY_EVENT_KINDS for r in records):
        node.peers.resolve_orgs(keys.resolve)
    for profile in (r for r in records if r.kind == kinds.ORG_PROFILE):
        org = keys.resolve(profile.author)
        nodes: dict[str, bytes] = {}
        for entry in profile.body.get("nodes", []):
            with contextlib.suppress(ConfigError):
                nodes[normalise_url(entry["url"])] = entry["key"]
        node.peers.note_node_keys(org, profile.created, frozenset(nodes.values()))


async def follow_logged(node: Node, records: list[Record]) -> None:
    try:
        await follow_node_keys(node, records)
    except Exception:
        log.exception("following node keys failed")


NODES_KEY = b"\xa5nodes"  # the msgpack text "nodes": a profile without these bytes lists none


async def load_node_keys(node: Node) -> None:
    """At start: what the held profiles say about node keys, oldest first. Only profiles
    whose bytes hold the key ``nodes`` are parsed (20,000 versions at 10^6 records took
    0.4 s of the event loop during start-up), a chunk at a time between other work."""
    wires = [w for w in await node.store.live_of_kinds([kinds.ORG_PROFILE]) if NODES_KEY in w]
    profiles = []
    for start in range(0, len(wires), 500):
        profiles += [parse(wire) for wire in wires[start : start + 500]]
        await asyncio.sleep(0)
    await follow_logged(node, profiles)
