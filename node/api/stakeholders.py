"""Stakeholder alliances by relation (revision 2), as ``/v1/orgs/{did}`` and
``/v1/members/{did}`` show them: in force, and alumni (ended, with the alumni clause)."""

from __future__ import annotations

from typing import Any

from crypto import did_from_raw
from node.storage.interface import RecordStore
from protocol import kinds


async def by_relation(store: RecordStore, key: bytes) -> dict[str, dict[str, list[Any]]]:
    """``{"in_force": {relation: [...]}, "alumni": {relation: [...]}}`` for a party's alliances.

    Each entry names the alliance, the organisation (``org``), the other party (``member``) and
    ``side``: ``org`` when ``key`` authored the alliance, else ``member``. Every relation of
    the contract is a key, with an empty list when there is none.
    """
    shown: dict[str, dict[str, list[Any]]] = {
        "in_force": {r: [] for r in kinds.RELATIONS},
        "alumni": {r: [] for r in kinds.RELATIONS},
    }
    for a in await store.alliances_of(key):
        entry = {
            "id": a["id"].hex(),
            "org": did_from_raw(a["org"]),
            "member": did_from_raw(a["member"]),
            "side": "org" if a["org"] == key else "member",
        }
        if a["end"] is None:
            shown["in_force"][a["relation"]].append(entry)
        elif a["alumni"]:
            shown["alumni"][a["relation"]].append({**entry, "end": a["end"].hex()})
    return shown
