"""Read queries over the store, each one an indexed lookup whose cost does not grow with it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Row:
    """A record as the store lists it: wire bytes, or None for a tombstone."""

    seq: int
    id: bytes
    kind: str
    author: bytes
    created: int
    wire: bytes | None

    @property
    def retracted(self) -> bool:
        return self.wire is None


_ROW = "seq, id, kind, author, created, wire"


async def get_record(db: aiosqlite.Connection, record_id: bytes) -> Row | None:
    rows = list(await db.execute_fetchall(f"SELECT {_ROW} FROM records WHERE id = ?", (record_id,)))
    return Row(*rows[0]) if rows else None


def get_record_now(db: sqlite3.Connection, record_id: bytes) -> Row | None:
    """``get_record`` on a plain connection, answered on the caller's thread: one primary-key
    lookup costs a few microseconds, less than handing it to a reader thread and back."""
    rows = db.execute(f"SELECT {_ROW} FROM records WHERE id = ?", (record_id,)).fetchall()
    return Row(*rows[0]) if rows else None


async def retract_pending_on(db: aiosqlite.Connection, record_id: bytes) -> bool:
    """Whether a held retract names ``record_id`` (a record this node never held)."""
    rows = await db.execute_fetchall(
        "SELECT 1 FROM records WHERE ref = ? AND kind = 'retract' AND wire IS NOT NULL LIMIT 1",
        (record_id,),
    )
    return bool(rows)


async def live_wires(db: aiosqlite.Connection, ids: list[bytes]) -> list[bytes]:
    """Wire bytes of the records held among ``ids`` (unknown and retracted ones left out)."""
    out: list[bytes] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.execute_fetchall(
            f"SELECT wire FROM records WHERE id IN ({','.join('?' * len(chunk))})"
            " AND wire IS NOT NULL",
            chunk,
        )
        out.extend(r[0] for r in rows)
    return out


async def live_keys(
    db: aiosqlite.Connection, after: tuple[int, bytes], limit: int
) -> list[tuple[int, bytes]]:
    """``(created, id)`` of live records past ``after`` in that order, at most ``limit``."""
    rows = await db.execute_fetchall(
        "SELECT created, id FROM records WHERE (created, id) > (?, ?)"
        " AND wire IS NOT NULL ORDER BY created, id LIMIT ?",
        (*after, limit),
    )
    return [(r[0], r[1]) for r in rows]


async def erased_among(db: aiosqlite.Connection, ids: list[bytes]) -> list[tuple[int, bytes]]:
    """``(created, id)`` of the records among ``ids`` held as tombstones (retracted)."""
    out: list[tuple[int, bytes]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.execute_fetchall(
            f"SELECT created, id FROM records WHERE wire IS NULL"
            f" AND id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        out.extend((r[0], r[1]) for r in rows)
    return out


Window = tuple[bytes, int, int | None]  # a key and when it speaks: from, until (None: open)


def scope_sql(windows: Iterable[Window], author: str, created: str) -> tuple[str, list[Any]]:
    """SQL true for a row signed by one of the keys inside that key's window (false if none)."""
    parts: list[str] = []
    params: list[Any] = []
    for key, start, end in windows:
        if end is None:
            parts.append(f"({author} = ? AND {created} >= ?)")
            params += [key, start]
        else:
            parts.append(f"({author} = ? AND {created} >= ? AND {created} < ?)")
            params += [key, start, end]
    return ("(" + " OR ".join(parts) + ")" if parts else "0 = 1"), params


@dataclass(frozen=True)
class RecordFilter:
    kind: str | None = None
    author: bytes | None = None
    subject: bytes | None = None
    since: int | None = None
    until: int | None = None
    # by identity (revision 3 proposal): signed by one of these keys inside its window
    # (key, from, until), and naming one of these keys as the subject
    author_windows: tuple[Window, ...] | None = None
    subjects: tuple[bytes, ...] | None = None


async def list_records(
    db: aiosqlite.Connection, where: RecordFilter, after_seq: int, limit: int
) -> list[Row]:
    """Live records in arrival order after ``after_seq``: new arrivals only ever append, so a
    cursor over ``seq`` neither skips nor repeats while records keep coming in. Tombstones are
    not records (revision 2): they are left out, so every node lists the same set."""
    clauses = ["seq > ?", "wire IS NOT NULL"]
    params: list[Any] = [after_seq]
    for column, value in (
        ("kind", where.kind),
        ("author", where.author),
        ("subject", where.subject),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.author_windows is not None:
        clause, more = scope_sql(where.author_windows, "author", "created")
        clauses.append(clause)
        params += more
    if where.subjects is not None:
        clauses.append(f"subject IN ({', '.join('?' * len(where.subjects))})")
        params += where.subjects
    if where.since is not None:
        clauses.append("created >= ?")
        params.append(where.since)
    if where.until is not None:
        clauses.append("created < ?")
        params.append(where.until)
    params.append(min(limit, MAX_LIMIT))
    sql = f"SELECT {_ROW} FROM records WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
    return [Row(*r) for r in await db.execute_fetchall(sql, params)]


@dataclass(frozen=True)
class OpportunityFilter:
    q: str | None = None
    skill: str | None = None
    tour: str | None = None
    remote: bool | None = None
    org: bytes | None = None
    status: str | None = None
    audience: str | None = None
    # by identity (revision 3 proposal): exactly these opportunities, the identity's current
    # versions whichever key signed them (in place of ``org``)
    ids: tuple[bytes, ...] | None = None


def fts_query(text: str) -> str | None:
    """A safe FTS5 query: every word of ``text`` as a quoted prefix term, all required."""
    words = re.findall(r"\w+", text)[:16]
    return " ".join(f'"{w}"*' for w in words) or None


def pg_tsquery(text: str) -> str | None:
    """The same query for PostgreSQL: every word a quoted prefix lexeme, all required."""
    words = re.findall(r"\w+", text)[:16]
    return " & ".join(f"'{w}':*" for w in words) or None


async def list_opportunities(
    db: aiosqlite.Connection, where: OpportunityFilter, before: tuple[int, bytes] | None, limit: int
) -> list[Row]:
    """Current opportunities, newest first, keyset-paginated on (created, id)."""
    # the record of each current row, matched on all of current's key as well, so that SQLite
    # may also join from the record side without scanning current
    postgresql = getattr(db, "dialect", "sqlite") == "postgresql"
    joins = [
        "JOIN opportunity_facts f ON f.id = c.id",
        # PostgreSQL estimates the extra equalities as near-empty and then sorts every match
        # instead of walking current_kind_order: it joins on the id alone
        "JOIN records r ON r.id = c.id"
        if postgresql
        else "JOIN records r ON r.id = c.id AND r.kind = c.kind AND r.author = c.author"
        " AND r.slot = c.slot",
    ]
    clauses = ["c.kind = 'opportunity'"]
    params: list[Any] = []
    source = "current c"
    if where.ids is not None:
        if not where.ids:
            return []
        source = (
            "(SELECT kind, author, slot, id, created FROM records"
            f" WHERE id IN ({', '.join('?' * len(where.ids))})) c"
        )
        params += where.ids
    if where.q and postgresql:
        if query := pg_tsquery(where.q):
            clauses.append("f.search @@ to_tsquery('simple', ?)")
            params.append(query)
    elif where.q and (match := fts_query(where.q)):
        # Walk current opportunities newest first and keep the matching ones: the page is
        # found after a few rows, while joining each match (a common word matches most of the
        # catalogue) and sorting them all grows with it. The unary + keeps SQLite from using
        # the match list as an index constraint on every row (probing each listed rowid).
        clauses.append(
            "+f.rowid IN (SELECT rowid FROM opportunity_search WHERE opportunity_search MATCH ?)"
        )
        params.append(match)
    for column, value in (
        ("f.tour", where.tour),
        ("f.status", where.status),
        ("f.audience", where.audience),
        ("c.author", where.org),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.remote is not None:
        clauses.append("f.remote = ?")
        params.append(int(where.remote))
    if where.skill:
        clauses.append(
            "instr(char(10) || lower(f.skills) || char(10), char(10) || lower(?) || char(10)) > 0"
        )
        params.append(where.skill)
    if before is not None:
        clauses.append("(c.created < ? OR (c.created = ? AND c.id < ?))")
        params.extend([before[0], before[0], before[1]])
    params.append(min(limit, MAX_LIMIT))
    sql = (
        f"SELECT r.seq, r.id, r.kind, r.author, r.created, r.wire FROM {source}"
        f" {' '.join(joins)} WHERE {' AND '.join(clauses)}"
        " ORDER BY c.created DESC, c.id DESC LIMIT ?"
    )
    return [Row(*r) for r in await db.execute_fetchall(sql, params)]


async def current_of(db: aiosqlite.Connection, kind: str, author: bytes) -> Row | None:
    rows = list(
        await db.execute_fetchall(
            "SELECT r.seq, r.id, r.kind, r.author, r.created, r.wire FROM current c"
            " JOIN records r ON r.id = c.id WHERE c.kind = ? AND c.author = ? AND c.slot = ''",
            (kind, author),
        )
    )
    return Row(*rows[0]) if rows else None


async def list_org_profiles(db: aiosqlite.Connection, after: bytes | None, limit: int) -> list[Row]:
    rows = await db.execute_fetchall(
        "SELECT r.seq, r.id, r.kind, r.author, r.created, r.wire FROM current c"
        " JOIN records r ON r.id = c.id WHERE c.kind = 'org.profile' AND c.slot = ''"
        " AND c.author > ? ORDER BY c.author LIMIT ?",
        (after or b"", min(limit, MAX_LIMIT)),
    )
    return [Row(*r) for r in rows]


async def counts_by_kind(db: aiosqlite.Connection, author: bytes | None = None) -> dict[str, int]:
    if author is None:
        rows = await db.execute_fetchall(
            "SELECT kind, count(*) FROM records WHERE retracted = 0 GROUP BY kind"
        )
    else:
        rows = await db.execute_fetchall(
            "SELECT kind, count(*) FROM records WHERE author = ? AND retracted = 0 GROUP BY kind",
            (author,),
        )
    return {kind: n for kind, n in rows}


async def alumni_of(db: aiosqlite.Connection, org: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(member, alliance id, end id) of every ended alliance with the alumni clause."""
    rows = await db.execute_fetchall(
        "SELECT member, id, end_id FROM alliances WHERE org = ? AND end_id IS NOT NULL"
        " AND alumni = 1 ORDER BY member, created, id",
        (org,),
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def is_alumnus(db: aiosqlite.Connection, org: bytes, member: bytes) -> bool:
    rows = await db.execute_fetchall(
        "SELECT 1 FROM alliances WHERE org = ? AND member = ? AND end_id IS NOT NULL"
        " AND alumni = 1 LIMIT 1",
        (org, member),
    )
    return bool(rows)
