"""Private records: node-local state, never part of ``records``.

A private alliance (its draft marked private by the organisation), the records that name it
(its ends, the attestations grounded in it) and the records that name those (retracts, replies)
are valid records like any other on the wire; a node keeps them here instead of in
``records``, so that no listing, view, push, reconciliation or fetch can ever see them. They
are served only to the two parties of the alliance, by requests signed with their keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from protocol import Record, kinds

Parties = tuple[bytes, bytes]  # (the organisation, the member) of the private alliance

# Migration V5 (see schema.MIGRATIONS).
SCHEMA = """
CREATE TABLE private_drafts (id BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE private_records (
  id       BLOB PRIMARY KEY,
  kind     TEXT NOT NULL,
  author   BLOB NOT NULL,
  created  INTEGER NOT NULL,
  party_a  BLOB NOT NULL,   -- the organisation of the private alliance
  party_b  BLOB NOT NULL,   -- its member
  wire     BLOB,            -- NULL once retracted by its author
  received INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX private_records_a ON private_records (party_a);
CREATE INDEX private_records_b ON private_records (party_b);
"""

# The same tables in PostgreSQL (pg_schema.MIGRATIONS).
PG_SCHEMA = """
CREATE TABLE private_drafts (id BYTEA PRIMARY KEY);
CREATE TABLE private_records (
  id BYTEA PRIMARY KEY, kind TEXT NOT NULL, author BYTEA NOT NULL, created BIGINT NOT NULL,
  party_a BYTEA NOT NULL, party_b BYTEA NOT NULL, wire BYTEA, received BIGINT NOT NULL
);
CREATE INDEX private_records_a ON private_records (party_a);
CREATE INDEX private_records_b ON private_records (party_b);
"""

_REFERENCE = {
    kinds.ALLIANCE_END: "alliance",
    kinds.ATTESTATION: "alliance",
    kinds.RETRACT: "target",
    "reply": "target",
}


@dataclass(frozen=True, slots=True)
class PrivateRow:
    id: bytes
    kind: str
    author: bytes
    parties: Parties
    wire: bytes | None  # None: retracted

    def shown_to(self, key: bytes | None) -> bool:
        return key is not None and key in self.parties


def reference_of(record: Record) -> bytes | None:
    """The id a record names that can make it private (an alliance, a target)."""
    name = _REFERENCE.get(record.kind)
    value = record.body.get(name) if name else None
    return value if isinstance(value, bytes) else None


async def _known(db: aiosqlite.Connection, ids: list[bytes]) -> dict[bytes, Parties]:
    found: dict[bytes, Parties] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.execute_fetchall(
            "SELECT id, party_a, party_b FROM private_records"
            f" WHERE id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update({row[0]: (row[1], row[2]) for row in rows})
    return found


async def _private_drafts(db: aiosqlite.Connection, ids: list[bytes]) -> set[bytes]:
    marked: set[bytes] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.execute_fetchall(
            f"SELECT id FROM private_drafts WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        marked.update(row[0] for row in rows)
    return marked


async def any_kept(db: aiosqlite.Connection) -> bool:
    """Whether a private draft or record was ever kept in this store."""
    rows = await db.execute_fetchall(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM private_drafts)"
        " OR EXISTS (SELECT 1 FROM private_records)"
    )
    return bool(list(rows))


async def classify(db: aiosqlite.Connection, records: Sequence[Record]) -> list[Parties | None]:
    """For each record (in order), the parties it is private to, or None when it is public.

    A record is private when it is an alliance whose draft was marked private here, or when it
    names (as ``alliance`` or ``target``) a private record, held or earlier in ``records``.
    """
    alliances = [r.id for r in records if r.kind == kinds.ALLIANCE]
    marked = await _private_drafts(db, alliances) if alliances else set()
    references = sorted({ref for r in records if (ref := reference_of(r)) is not None})
    known = await _known(db, references) if references else {}
    result: list[Parties | None] = []
    for record in records:
        parties: Parties | None = None
        if record.kind == kinds.ALLIANCE and record.id in marked:
            parties = (record.author, record.body["member"])
        elif (ref := reference_of(record)) is not None:
            parties = known.get(ref)
        if parties is not None:
            known[record.id] = parties
        result.append(parties)
    return result


INSERT = (
    "INSERT OR IGNORE INTO private_records"
    " (id, kind, author, created, party_a, party_b, wire, received)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# A retract withdraws its author's own private record of a retractable kind (the kind table's
# list: alliances are ended, key events are history, retracts are final).
RETRACT = (
    "UPDATE private_records SET wire = NULL WHERE id = ? AND author = ? AND kind NOT IN ("
    + ", ".join(f"'{name}'" for name in sorted(kinds.NOT_RETRACTABLE))
    + ")"
)


def insert_params(record: Record, parties: Parties, received: int) -> tuple[object, ...]:
    return (
        record.id,
        record.kind,
        record.author,
        record.created,
        parties[0],
        parties[1],
        record.wire,
        received,
    )


async def insert_all(db: Any, items: Sequence[tuple[Record, Parties]], received: int) -> list[bool]:
    """Insert private records inside the caller's transaction (either engine's connection);
    for each, True when it was new. A new retract erases its author's private target."""
    flags: list[bool] = []
    for record, parties in items:
        done = await db.execute(INSERT, insert_params(record, parties, received))
        flags.append(done.rowcount == 1)
        if flags[-1] and record.kind == kinds.RETRACT:
            await db.execute(RETRACT, (record.body["target"], record.author))
    return flags


async def get_private(db: aiosqlite.Connection, record_id: bytes) -> PrivateRow | None:
    rows = await db.execute_fetchall(
        "SELECT id, kind, author, party_a, party_b, wire FROM private_records WHERE id = ?",
        (record_id,),
    )
    for rid, kind, author, a, b, wire in rows:
        return PrivateRow(rid, kind, author, (a, b), wire)
    return None


async def private_of(db: aiosqlite.Connection, party: bytes) -> list[bytes]:
    """Wire bytes of the live private records ``party`` is a party of, oldest first."""
    rows = await db.execute_fetchall(
        "SELECT wire FROM private_records WHERE (party_a = ? OR party_b = ?)"
        " AND wire IS NOT NULL ORDER BY created, id",
        (party, party),
    )
    return [row[0] for row in rows]
