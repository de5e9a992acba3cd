"""A PostgreSQL connection that answers the store's SQL as SQLite's connection does.

The store's queries are written once, in the SQL both engines share (row values, ``IN`` lists,
``coalesce``, ``EXISTS``…), with ``?`` placeholders; ``PgConnection`` runs them on an asyncpg
pool. ``translate`` rewrites the few places where the dialects differ, one rule each, and the
storage test suite runs every query on both engines, so a construct without a rule fails there
rather than in production. Statements that differ in meaning, not only in spelling (the schema,
full-text search, upserts), are written for PostgreSQL in the PostgreSQL engine itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

DIALECT = "postgresql"

# (SQLite spelling, PostgreSQL spelling): applied in order, outside string literals.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bchar\(10\)"), "chr(10)"),
    (re.compile(r"\binstr\("), "strpos("),
    (re.compile(r"\bmax\(cursor, "), "greatest(cursor, "),
)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.IGNORECASE)
_LITERAL_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The PostgreSQL spelling of one statement of the store's shared SQL."""
    ignore = bool(_INSERT_OR_IGNORE.match(sql))
    if ignore:
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1)
    counter = 0

    def mark(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    parts = re.split(r"('(?:[^']|'')*')", sql)
    for i in range(0, len(parts), 2):  # even parts are outside literals
        for pattern, replacement in _RULES:
            parts[i] = pattern.sub(replacement, parts[i])
    sql = _LITERAL_OR_MARK.sub(mark, "".join(parts))
    return sql + " ON CONFLICT DO NOTHING" if ignore else sql


@dataclass(frozen=True)
class Done:
    """What a statement changed, as the store reads it from a SQLite cursor."""

    rowcount: int


def _rowcount(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PgConnection:
    """``execute`` / ``execute_fetchall`` / ``executemany`` over a pool, or over one connection
    held for a transaction (``transaction()``)."""

    dialect = DIALECT

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection | None = None) -> None:
        self.pool = pool
        self._conn = conn

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            async with self.pool.acquire() as conn:
                yield conn

    async def execute_fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._acquire() as conn:
            rows = await conn.fetch(translate(sql), *params)
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Done:
        async with self._acquire() as conn:
            status = await conn.execute(translate(sql), *params)
        return Done(_rowcount(status))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._acquire() as conn:
            await conn.executemany(translate(sql), list(rows))

    async def execute_script(self, script: str) -> None:
        """Several statements as written (no placeholders, no translation): the schema."""
        async with self._acquire() as conn:
            await conn.execute(script)

    @asynccontextmanager
    async def transaction(self, lock: int | None = None) -> AsyncIterator[PgConnection]:
        """One connection in one transaction; ``lock``: an advisory lock held until commit."""
        async with self.pool.acquire() as conn, conn.transaction():
            if lock is not None:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            yield PgConnection(self.pool, conn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PgConnection]:
        """One connection in one read-only REPEATABLE READ transaction: a consistent view."""
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PgConnection(self.pool, conn)

    async def close(self) -> None:
        await self.pool.close()


async def connect(dsn: str, min_size: int = 1, max_size: int = 8) -> PgConnection:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    return PgConnection(pool)
