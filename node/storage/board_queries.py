"""Reads for the web board (node/web): profile names, alliances by party, retracted ids.

Each is bounded by the keys asked about or by ``MAX_ALLIANCES``, so a page costs the same at
100k records as at 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aiosqlite
import msgpack

from protocol import Record, record_from_trusted

MAX_NAMES = 500
MAX_ALLIANCES = 500


def trusted(wire: bytes, record_id: bytes) -> Record:
    """A stored record (validated on the way in) read back without checking it again."""
    return record_from_trusted(msgpack.unpackb(wire, raw=False), wire, record_id)


async def profile_names(
    db: aiosqlite.Connection, kind: str, keys: Iterable[bytes]
) -> dict[bytes, str]:
    """The ``name`` in the current profile of ``kind`` of each key that has one here."""
    wanted = sorted(set(keys))[:MAX_NAMES]
    if not wanted:
        return {}
    rows = await db.execute_fetchall(
        "SELECT r.author, r.id, r.wire FROM current c JOIN records r ON r.id = c.id"
        f" WHERE c.kind = ? AND c.slot = '' AND c.author IN ({','.join('?' * len(wanted))})"
        " AND r.wire IS NOT NULL",
        (kind, *wanted),
    )
    found: dict[bytes, str] = {}
    for author, rid, wire in rows:
        name = trusted(wire, rid).body.get("name")
        if isinstance(name, str) and name:
            found[author] = name
    return found


@dataclass(frozen=True)
class PartyAlliance:
    """An alliance as a party's page lists it (the end, if any, with its outcome)."""

    id: bytes
    org: bytes
    member: bytes
    relation: str
    tour: str
    alumni: bool
    created: int
    end: bytes | None
    outcome: str | None

    @property
    def in_force(self) -> bool:
        return self.end is None


async def party_alliances(db: aiosqlite.Connection, side: str, key: bytes) -> list[PartyAlliance]:
    """Alliances of an organisation (``side="org"``) or of its other party (``"member"``),
    newest first, at most ``MAX_ALLIANCES``."""
    if side not in ("org", "member"):
        raise ValueError(f"side must be org or member, not {side!r}")
    rows = await db.execute_fetchall(
        "SELECT a.id, a.org, a.member, a.relation, a.tour, a.alumni, a.created, a.end_id,"
        " f.outcome FROM alliances a LEFT JOIN end_facts f ON f.id = a.end_id"
        f" WHERE a.{side} = ? ORDER BY a.created DESC, a.id DESC LIMIT ?",
        (key, MAX_ALLIANCES),
    )
    return [
        PartyAlliance(rid, org, member, relation, tour, bool(alumni), created, end, outcome)
        for rid, org, member, relation, tour, alumni, created, end, outcome in rows
    ]


async def is_retracted(db: aiosqlite.Connection, record_id: bytes) -> bool:
    """A tombstone here, or the target of a retract held here (PROTOCOL-v1 section 5: both
    answer 410)."""
    rows = await db.execute_fetchall(
        "SELECT 1 FROM records WHERE (id = ? AND wire IS NULL)"
        " OR (kind = 'retract' AND ref = ? AND wire IS NOT NULL) LIMIT 1",
        (record_id, record_id),
    )
    return bool(rows)
