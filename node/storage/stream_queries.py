"""Reads for the live stream: records in arrival order (``seq``) within a cursor range."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from node.storage.queries import Row


@dataclass(frozen=True)
class StreamFilter:
    """Which records a subscriber wants: any of each given set, all sets together."""

    kinds: frozenset[str] = field(default_factory=frozenset)
    authors: frozenset[bytes] = field(default_factory=frozenset)
    subjects: frozenset[bytes] = field(default_factory=frozenset)

    def matches(self, kind: str, author: bytes, subject: bytes | None) -> bool:
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.authors or author in self.authors)
            and (not self.subjects or subject in self.subjects)
        )


@dataclass(frozen=True, slots=True)
class StreamRow:
    row: Row
    subject: bytes | None


async def last_seq(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("SELECT coalesce(max(seq), 0) FROM records")
    return int(next(iter(rows))[0])


async def rows_between(
    db: aiosqlite.Connection, after: int, upto: int | None, where: StreamFilter, limit: int
) -> list[StreamRow]:
    """Records with ``after < seq <= upto`` (no upper bound when None) matching ``where``."""
    clauses = ["seq > ?"]
    params: list[Any] = [after]
    if upto is not None:
        clauses.append("seq <= ?")
        params.append(upto)
    for column, values in (
        ("kind", where.kinds),
        ("author", where.authors),
        ("subject", where.subjects),
    ):
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(sorted(values))
    params.append(limit)
    sql = (
        "SELECT seq, id, kind, author, created, wire, subject FROM records"
        f" WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
    )
    return [StreamRow(Row(*r[:6]), r[6]) for r in await db.execute_fetchall(sql, params)]
