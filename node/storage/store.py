"""The record store: one SQLite file in WAL mode, through aiosqlite.

Writes go through one writer connection with group commit: concurrent ``add`` calls that queue
while a transaction is being written are committed together in the next one, so that many
one-record requests share one fsync. ``synchronous=FULL``: a record acknowledged is on disk.
Reads use a second connection and never wait behind the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from node.storage.facts import FACT_INSERTS, facts_of, record_row
from node.storage.schema import MIGRATIONS
from protocol.record import Record

_INSERT_RECORD = (
    "INSERT OR IGNORE INTO records (id, kind, author, created, subject, ref, slot, wire,"
    " received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
MAX_GROUP = 2000  # records per write transaction


class StoreError(Exception):
    """The database cannot be opened or is not a Rakuichi store."""


async def _connect(path: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA busy_timeout = 10000")
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = FULL")
    await db.execute("PRAGMA cache_size = -16000")
    return db


async def migrate(db: aiosqlite.Connection) -> int:
    """Apply the migrations not yet applied; return the schema version."""
    (version,) = await (await db.execute("PRAGMA user_version")).fetchone()  # type: ignore[misc]
    if version > len(MIGRATIONS):
        raise StoreError(f"database schema {version} is newer than this software knows")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    return len(MIGRATIONS)


class Store:
    """Records and their derived views in one SQLite file."""

    def __init__(self, path: Path, writer: aiosqlite.Connection,
                 reader: aiosqlite.Connection) -> None:
        self.path = path
        self.writer = writer
        self.reader = reader
        self._queue: list[tuple[Sequence[Record], int, asyncio.Future[list[bool]]]] = []
        self._writing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Store:
        target = Path(path)
        try:
            writer = await _connect(str(target))
            await migrate(writer)
            reader = await _connect(str(target))
        except aiosqlite.Error as exc:
            raise StoreError(f"{target}: cannot open the database: {exc}") from None
        return cls(target, writer, reader)

    async def close(self) -> None:
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        await self.reader.close()
        await self.writer.close()

    async def add(self, records: Sequence[Record], received_ms: int) -> list[bool]:
        """Store valid records; for each, True when it was new, False when already held.

        Returns only once the transaction holding them is committed to disk.
        """
        if not records:
            return []
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append((records, received_ms, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_queued())
        return await future

    async def _write_queued(self) -> None:
        while self._queue:
            group: list[tuple[Sequence[Record], int, asyncio.Future[list[bool]]]] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0][0]) <= MAX_GROUP):
                item = self._queue.pop(0)
                group.append(item)
                size += len(item[0])
            try:
                results = await self._write_group(group)
            except Exception as exc:  # the database failed: every waiter learns it
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _write_group(
        self, group: list[tuple[Sequence[Record], int, asyncio.Future[list[bool]]]]
    ) -> list[list[bool]]:
        ids = list({r.id for records, _, _ in group for r in records})
        held = await self._held(ids)
        new: dict[bytes, tuple[Record, int]] = {}
        results: list[list[bool]] = []
        for records, received, _ in group:
            flags = []
            for record in records:
                is_new = record.id not in held and record.id not in new
                if is_new:
                    new[record.id] = (record, received)
                flags.append(is_new)
            results.append(flags)
        if new:
            await self._insert(list(new.values()))
        return results

    async def _held(self, ids: list[bytes]) -> set[bytes]:
        held: set[bytes] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self.writer.execute_fetchall(
                f"SELECT id FROM records WHERE id IN ({marks})", chunk)
            held.update(row[0] for row in rows)
        return held

    async def _insert(self, items: list[tuple[Record, int]]) -> None:
        facts: dict[str, list[tuple[object, ...]]] = {}
        for record, _ in items:
            fact = facts_of(record)
            if fact is not None:
                facts.setdefault(fact[0], []).append(fact[1])
        rows = [record_row(record).params(received) for record, received in items]
        db = self.writer
        await db.execute("BEGIN IMMEDIATE")
        try:
            for table, params in facts.items():
                await db.executemany(FACT_INSERTS[table], params)
            await db.executemany(_INSERT_RECORD, rows)
            await db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                await db.execute("ROLLBACK")
            raise
