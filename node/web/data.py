"""What the board's pages read from the store: names, alliances by relation, replies.

Every query is bounded (by a key's own records or a LIMIT), so a page costs the same at 100k
records as at 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aiosqlite
import msgpack

from protocol.record import Record, record_from_trusted

RELATIONS = ("member", "customer", "supplier", "shareholder", "partner")
MAX_ALLIANCES = 500


def trusted(wire: bytes, record_id: bytes) -> Record:
    """A stored record (validated on the way in) read back without checking it again."""
    return record_from_trusted(msgpack.unpackb(wire, raw=False), wire, record_id)


async def names(db: aiosqlite.Connection, kind: str, keys: Iterable[bytes]) -> dict[bytes, str]:
    """The profile name of each key that has a current profile of ``kind`` here."""
    wanted = sorted(set(keys))[:MAX_ALLIANCES]
    if not wanted:
        return {}
    rows = await db.execute_fetchall(
        "SELECT r.author, r.id, r.wire FROM current c JOIN records r ON r.id = c.id"
        f" WHERE c.kind = ? AND c.slot = '' AND c.author IN ({','.join('?' * len(wanted))})",
        (kind, *wanted),
    )
    found: dict[bytes, str] = {}
    for author, rid, wire in rows:
        name = trusted(wire, rid).body.get("name")
        if isinstance(name, str) and name:
            found[author] = name
    return found


@dataclass(frozen=True)
class AllianceItem:
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


async def alliances(db: aiosqlite.Connection, column: str, key: bytes) -> list[AllianceItem]:
    """Alliances of an organisation (``column="org"``) or a member (``"member"``), newest
    first; the relation is read from the alliance itself (absent means ``member``)."""
    assert column in ("org", "member")
    rows = await db.execute_fetchall(
        "SELECT a.id, a.org, a.member, a.tour, a.alumni, a.created, a.end_id, f.outcome, r.wire"
        " FROM alliances a JOIN records r ON r.id = a.id"
        " LEFT JOIN end_facts f ON f.id = a.end_id"
        f" WHERE a.{column} = ? ORDER BY a.created DESC, a.id DESC LIMIT ?",
        (key, MAX_ALLIANCES),
    )
    items = []
    for rid, org, member, tour, alumni, created, end, outcome, wire in rows:
        relation = trusted(wire, rid).body.get("relation", "member") if wire else "member"
        items.append(
            AllianceItem(
                rid,
                org,
                member,
                relation if relation in RELATIONS else "member",
                tour,
                bool(alumni),
                created,
                end,
                outcome,
            )
        )
    return items


def by_relation(items: list[AllianceItem], in_force: bool) -> dict[str, list[AllianceItem]]:
    """In force (``in_force``) or alumni (ended, with the alumni clause), grouped by relation
    in the order of ``RELATIONS``; one entry per counterparty."""
    groups: dict[str, list[AllianceItem]] = {r: [] for r in RELATIONS}
    seen: set[tuple[str, bytes]] = set()
    for item in items:
        wanted = item.in_force if in_force else (not item.in_force and item.alumni)
        if wanted and (item.relation, item.member) not in seen:
            seen.add((item.relation, item.member))
            groups[item.relation].append(item)
    return {r: g for r, g in groups.items() if g}


async def replies(db: aiosqlite.Connection, targets: dict[bytes, bytes]) -> dict[bytes, Record]:
    """The current reply to each target, keyed by target id. ``targets`` maps a target id to
    the one key whose reply counts there (an attestation's subject, an end's other party).
    Replies are replaceable per (author, target): revision 2 keeps them in ``current`` with
    the target's id in hex as the slot."""
    if not targets:
        return {}
    slots = [t.hex() for t in targets]
    found: dict[bytes, Record] = {}
    for start in range(0, len(slots), 500):
        chunk = slots[start : start + 500]
        rows = await db.execute_fetchall(
            "SELECT c.author, c.slot, r.id, r.wire FROM current c JOIN records r ON r.id = c.id"
            f" WHERE c.kind = 'reply' AND c.slot IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for author, slot, rid, wire in rows:
            target = bytes.fromhex(slot)
            if wire is not None and targets.get(target) == author:
                found[target] = trusted(wire, rid)
    return found
