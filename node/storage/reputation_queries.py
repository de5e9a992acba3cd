"""Queries for alliances, drafts and reputation: each bounded by one key's records."""

from __future__ import annotations

from typing import Any

import aiosqlite

from node.storage.queries import live_wires
from node.storage.replies import replies_to
from protocol import (
    AttestationState,
    Record,
    Reputation,
    Tombstone,
    Views,
    kinds,
    parse,
    reputation_from_views,
)


async def get_draft(db: aiosqlite.Connection, draft_id: bytes) -> bytes | None:
    rows = list(await db.execute_fetchall("SELECT wire FROM drafts WHERE id = ?", (draft_id,)))
    return rows[0][0] if rows else None


async def drafts_for(db: aiosqlite.Connection, member: bytes) -> list[bytes]:
    """Wire bytes of the drafts waiting for ``member``: not yet signed into a held record."""
    rows = await db.execute_fetchall(
        "SELECT d.wire FROM drafts d WHERE d.member = ? "
        "AND NOT EXISTS (SELECT 1 FROM records r WHERE r.id = d.id) ORDER BY d.created, d.id",
        (member,),
    )
    return [row[0] for row in rows]


async def attestation_rows(
    db: aiosqlite.Connection, subject: bytes, now_ms: int
) -> tuple[dict[bytes, AttestationState], dict[bytes, Tombstone]]:
    """Live attestations about ``subject`` with their state, and retracted ones as tombstones."""
    rows = await db.execute_fetchall(
        "SELECT r.wire, a.grounded FROM attestations a JOIN records r ON r.id = a.id"
        " WHERE a.subject = ?",
        (subject,),
    )
    live: dict[bytes, AttestationState] = {}
    for wire, grounded in rows:
        record = parse(wire)
        expires = record.body.get("expires")
        live[record.id] = AttestationState(
            record, bool(grounded), expires is not None and expires <= now_ms
        )
    rows = await db.execute_fetchall(
        "SELECT id, author, created FROM records WHERE kind = 'attestation' AND subject = ?"
        " AND wire IS NULL",
        (subject,),
    )
    tombs = {
        rid: Tombstone(rid, kinds.ATTESTATION, author, created, subject)
        for rid, author, created in rows
    }
    return live, tombs


def partial_views(
    attestations: dict[bytes, AttestationState],
    tombstones: dict[bytes, Tombstone],
    replies: dict[bytes, Record] | None = None,
) -> Views:
    return Views(
        org_profiles={},
        member_profiles={},
        opportunities={},
        alliances={},
        alumni={},
        attestations=attestations,
        tombstones=tombstones,
        pending={},
        unknown=frozenset(),
        replies=replies or {},
    )


async def reputation_of(db: aiosqlite.Connection, subject: bytes, now_ms: int) -> Reputation:
    live, tombs = await attestation_rows(db, subject, now_ms)
    replies = await replies_to(db, sorted(live))
    return reputation_from_views(partial_views(live, tombs, replies), subject)


async def bundle_records(
    db: aiosqlite.Connection, subject: bytes, chosen: list[Record]
) -> list[Record]:
    """What checking ``chosen`` attestations offline needs, beside them."""
    alliance_ids = sorted({r.body["alliance"] for r in chosen if "alliance" in r.body})
    needed: set[bytes] = set(alliance_ids)
    for start in range(0, len(alliance_ids), 500):
        chunk = alliance_ids[start : start + 500]
        rows = await db.execute_fetchall(
            f"SELECT id FROM records WHERE kind = 'alliance.end' AND wire IS NOT NULL"
            f" AND ref IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        needed.update(r[0] for r in rows)
    for author in {r.author for r in chosen} | {subject}:
        rows = await db.execute_fetchall(
            "SELECT id FROM current WHERE author = ? AND slot = ''"
            " AND kind IN ('org.profile', 'member.profile')",
            (author,),
        )
        needed.update(r[0] for r in rows)
    rows = await db.execute_fetchall(
        "SELECT t.id FROM records r JOIN records t ON t.ref = r.id AND t.kind = 'retract'"
        " WHERE r.kind = 'attestation' AND r.subject = ? AND r.wire IS NULL",
        (subject,),
    )
    needed.update(r[0] for r in rows)
    replies = await replies_to(db, sorted({r.id for r in chosen} | needed))
    needed.update(r.id for r in replies.values())
    return chosen + [parse(w) for w in await live_wires(db, sorted(needed))]


async def member_alliances(db: aiosqlite.Connection, member: bytes) -> list[dict[str, Any]]:
    rows = await db.execute_fetchall(
        "SELECT a.id, a.org, a.alumni, a.end_id, f.outcome, a.relation FROM alliances a"
        " LEFT JOIN end_facts f ON f.id = a.end_id WHERE a.member = ? ORDER BY a.created",
        (member,),
    )
    return [
        {
            "id": rid,
            "org": org,
            "alumni": bool(alumni),
            "end": end,
            "outcome": outcome,
            "relation": relation,
        }
        for rid, org, alumni, end, outcome, relation in rows
    ]


async def alliances_of(db: aiosqlite.Connection, key: bytes) -> list[dict[str, Any]]:
    """Every alliance ``key`` is a party of, on either side (revision 2: an organisation is
    also the member side of its alliances as a supplier, customer, shareholder or partner)."""
    rows = await db.execute_fetchall(
        "SELECT id, org, member, relation, alumni, end_id, created FROM alliances"
        " WHERE org = ? UNION ALL"
        " SELECT id, org, member, relation, alumni, end_id, created FROM alliances"
        " WHERE member = ? AND org != ? ORDER BY created, id",
        (key, key, key),
    )
    return [
        {
            "id": r[0],
            "org": r[1],
            "member": r[2],
            "relation": r[3],
            "alumni": bool(r[4]),
            "end": r[5],
        }
        for r in rows
    ]
