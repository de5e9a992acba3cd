"""The derived views as the store holds them, rebuilt from its SQL tables alone.

``dump_views(db, now_ms)`` reads the trigger-maintained tables (``current``, ``alliances``,
``attestations``), the tombstones (``records`` rows whose wire bytes are gone) and computes the
pending references and unknown kinds in SQL, and returns a ``protocol.views.Views``. For the
same set of records it must equal ``protocol.views.derive``: tests compare the two, and an
operator can use it to check a database. It reads every view whole: not for request handlers.
"""

from __future__ import annotations

from collections import defaultdict

import aiosqlite

from node.storage.replies import all_replies
from protocol import AllianceState, AttestationState, Record, Tombstone, Views, kinds, parse

_WAITING_KINDS = tuple(sorted(kinds.REFERENCES))


def _record(wire: bytes | None, what: str) -> Record:
    if wire is None:  # a view row pointing at an erased record: the triggers went wrong
        raise ValueError(f"{what} points at a retracted record")
    return parse(wire)


async def dump_views(db: aiosqlite.Connection, now_ms: int) -> Views:
    """Every derived view of the records in ``db`` at ``now_ms`` (see ``protocol.views``)."""
    org_profiles: dict[bytes, Record] = {}
    member_profiles: dict[bytes, Record] = {}
    opportunities: dict[tuple[bytes, str], Record] = {}
    rows = await db.execute_fetchall(
        "SELECT c.kind, c.author, c.slot, r.wire FROM current c JOIN records r ON r.id = c.id"
    )
    for kind, author, slot, wire in rows:
        record = _record(wire, f"current {kind}")
        if kind == kinds.ORG_PROFILE:
            org_profiles[author] = record
        elif kind == kinds.MEMBER_PROFILE:
            member_profiles[author] = record
        elif kind == kinds.OPPORTUNITY:
            opportunities[(author, slot)] = record
        elif kind == kinds.REPLY:
            continue  # in effect or not: decided below, with its target
        else:
            raise ValueError(f"current holds a {kind}, which is not replaceable")

    alliances: dict[bytes, AllianceState] = {}
    alumni: defaultdict[bytes, set[bytes]] = defaultdict(set)
    rows = await db.execute_fetchall(
        "SELECT a.id, a.org, a.member, a.alumni, r.wire, e.wire, a.end_id FROM alliances a"
        " JOIN records r ON r.id = a.id LEFT JOIN records e ON e.id = a.end_id"
    )
    for aid, org, member, alumnus, wire, end_wire, end_id in rows:
        end = None if end_id is None else _record(end_wire, "alliance end")
        alliances[aid] = AllianceState(_record(wire, "alliance"), end)
        if end is not None and alumnus:
            alumni[org].add(member)

    attestations: dict[bytes, AttestationState] = {}
    rows = await db.execute_fetchall(
        "SELECT a.id, a.grounded, a.expires IS NOT NULL AND a.expires <= ?, r.wire"
        " FROM attestations a JOIN records r ON r.id = a.id",
        (now_ms,),
    )
    for aid, grounded, expired, wire in rows:
        attestations[aid] = AttestationState(
            _record(wire, "attestation"), bool(grounded), bool(expired)
        )

    tombstones: dict[bytes, Tombstone] = {}
    rows = await db.execute_fetchall(
        "SELECT id, kind, author, created, subject FROM records WHERE wire IS NULL"
    )
    for rid, kind, author, created, subject in rows:
        tombstones[rid] = Tombstone(
            rid, kind, author, created, subject if kind == kinds.ATTESTATION else None
        )

    pending: defaultdict[bytes, set[bytes]] = defaultdict(set)
    rows = await db.execute_fetchall(
        f"SELECT w.ref, w.id FROM records w"
        f" WHERE w.kind IN ({','.join('?' * len(_WAITING_KINDS))}) AND w.ref IS NOT NULL"
        f" AND w.retracted = 0 AND NOT EXISTS (SELECT 1 FROM records t WHERE t.id = w.ref)",
        _WAITING_KINDS,
    )
    for ref, waiting in rows:
        pending[ref].add(waiting)

    known = sorted(kinds.KINDS)
    rows = await db.execute_fetchall(
        f"SELECT id FROM records WHERE retracted = 0"
        f" AND kind NOT IN ({','.join('?' * len(known))})",
        known,
    )
    unknown = frozenset(row[0] for row in rows)

    return Views(
        org_profiles=org_profiles,
        member_profiles=member_profiles,
        opportunities=opportunities,
        alliances=alliances,
        alumni={org: frozenset(members) for org, members in alumni.items()},
        attestations=attestations,
        tombstones=tombstones,
        pending={ref: frozenset(waiting) for ref, waiting in pending.items()},
        unknown=unknown,
        replies=await all_replies(db),
    )
