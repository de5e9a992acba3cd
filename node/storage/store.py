"""The record store: one SQLite file in WAL mode, through aiosqlite.

Writes go through one writer connection with group commit: concurrent ``add`` calls that queue
while a transaction is being written are committed together in the next one, so that many
one-record requests share one fsync. ``synchronous=FULL``: a record acknowledged is on disk.
Reads use a second connection and never wait behind the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from node.storage import facterasure, private
from node.storage.facts import FACT_INSERTS, facts_of, record_row
from node.storage.facttables import SEARCH_TABLE, SEARCHED_KIND, sqlite_sync
from node.storage.identities import purge_refused_key_events
from node.storage.reads import StoreReads
from node.storage.schema import KEY_EVENTS_KNOWN, MIGRATIONS
from protocol import Record

_INSERT_RECORD = (
    "INSERT OR IGNORE INTO records (id, kind, author, created, subject, ref, slot, wire,"
    " received, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
MAX_GROUP = 2000  # records per write transaction
log = logging.getLogger("rakuichi.store")


@dataclass
class _Pending:
    records: Sequence[Record]
    received: int
    origin: bytes | None
    future: asyncio.Future[list[bool]]


def claim(
    group: list[_Pending], held: set[bytes]
) -> tuple[dict[bytes, tuple[Record, int, bytes | None]], list[list[bool]]]:
    """Which records of a write group are new (not ``held``, first occurrence in the group),
    with their arrival details, and each submission's new/already-held flags."""
    new: dict[bytes, tuple[Record, int, bytes | None]] = {}
    results: list[list[bool]] = []
    for item in group:
        flags = []
        for record in item.records:
            is_new = record.id not in held and record.id not in new
            if is_new:
                new[record.id] = (record, item.received, item.origin)
            flags.append(is_new)
        results.append(flags)
    return new, results


class StoreError(Exception):
    """The database cannot be opened or is not a Rakuichi store."""


# Every new version of an opportunity replaces the last one in the full-text index: each
# transaction leaves a small segment and delete markers behind, and a search reads them all
# (a one-word search over 10^6 records' catalogue: 1.5 ms fragmented, 0.3 ms merged). Some
# merge work after every so many versions keeps it compact (about 70 ms each time here).
SEARCH_MERGE_EVERY = 2000
SEARCH_MERGE = f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rank) VALUES ('merge', -200)"


# Pages of write-ahead log before a commit copies them into the database (SQLite's default is
# 1,000). Records land at random places in the id-keyed indexes, so a batch dirties a page per
# record in each; a longer log lets a page rewritten by several batches reach the database
# once, and fsyncs it less often (store CPU per record at 60,000 records: 178 -> 157 us).
WAL_CHECKPOINT_PAGES = 10_000
WAL_KEPT_BYTES = 64 * 1024 * 1024  # the log file is cut back to this after a checkpoint


async def _connect(path: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA cache_size = -16000")
        await db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        await db.execute(f"PRAGMA journal_size_limit = {WAL_KEPT_BYTES}")
    except BaseException:
        with contextlib.suppress(Exception):
            await db.close()
        raise
    return db


def _point_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection for primary-key lookups on the event loop's thread
    (``StoreReads.point``): it never waits for a lock (busy: the reader thread answers)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA query_only = ON")
    db.execute("PRAGMA busy_timeout = 0")
    db.execute("PRAGMA cache_size = -8000")
    return db


def backup_path(path: Path, version: int) -> Path:
    """Where the copy taken before migrating a schema-``version`` database goes."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return path.with_name(f"{path.name}.schema-v{version}-{stamp}.bak")


async def migrate(db: aiosqlite.Connection, path: Path | None = None) -> int:
    """Apply the migrations not yet applied; return the schema version. An existing database
    at ``path`` is first copied whole beside it (``VACUUM INTO``), so an upgrade can be undone."""
    (version,) = await (await db.execute("PRAGMA user_version")).fetchone()  # type: ignore[misc]
    if version > len(MIGRATIONS):
        raise StoreError(f"database schema {version} is newer than this software knows")
    if path is not None and 0 < version < len(MIGRATIONS):
        backup = backup_path(path, version)
        await db.execute("VACUUM INTO ?", (str(backup),))
        log.warning(
            "migrating %s from schema v%d to v%d; the old database is kept at %s",
            path,
            version,
            len(MIGRATIONS),
            backup,
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        if number == KEY_EVENTS_KNOWN:  # with a Python step, in the same transaction
            await db.executescript(f"BEGIN IMMEDIATE;\n{script}")  # left open
            try:
                await purge_refused_key_events(db)
                await db.execute(f"PRAGMA user_version = {number}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            continue
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    # fact tables, and their cleanup on retraction, follow the kind table (said of a store
    # made before: a new one is simply made so)
    changed = [*await sqlite_sync(db), *await facterasure.sqlite_sync(db)]
    for change in changed if version else []:
        log.warning("fact tables of %s brought up to the kind table: %s", path, change)
    return len(MIGRATIONS)


class Store(StoreReads):
    """Records and their derived views in one SQLite file (the reads are in ``StoreReads``)."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self.writer = writer
        self.reader = reader
        self._queue: list[_Pending] = []
        self._writing: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()  # one transaction at a time on the writer
        # called (synchronously) with the records each committed transaction made new
        self.on_commit: list[Callable[[list[Record]], None]] = []
        self._search_churn = 0  # searched records written since the full-text index was merged
        # whether a private draft or record was ever kept here: until then every record is
        # public and classifying one costs no query (only this process writes the file)
        self._private_kept = True

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Store:
        target = Path(path)
        writer: aiosqlite.Connection | None = None
        try:
            writer = await _connect(str(target))
            await migrate(writer, target)
            reader = await _connect(str(target))
            point = _point_connection(target)
        except BaseException as exc:
            if writer is not None:  # its thread would keep the process from exiting
                with contextlib.suppress(Exception):
                    await writer.close()
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"{target}: cannot open the database: {exc}") from None
            raise
        store = cls(target, writer, reader)
        store.point = point
        store._private_kept = await private.any_kept(reader)
        return store

    async def close(self) -> None:
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        if self.point is not None:
            self.point.close()
        await self.reader.close()
        await self.writer.close()

    async def follow_other_writers(self) -> None:
        """One SQLite file has one node process writing it: nothing to follow."""

    async def add(
        self, records: Sequence[Record], received_ms: int, origin: bytes | None = None
    ) -> list[bool]:
        """Store valid records; for each, True when it was new, False when already held.

        ``origin`` names the peer they came from (None: submitted here). Returns only once the
        transaction holding them is committed to disk.
        """
        if not records:
            return []
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(records, received_ms, origin, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_queued())
        return await future

    async def _write_queued(self) -> None:
        while self._queue:
            group: list[_Pending] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0].records) <= MAX_GROUP):
                item = self._queue.pop(0)
                group.append(item)
                size += len(item.records)
            try:
                results = await self._write_group(group)
            except Exception as exc:  # the database failed: every waiter learns it
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, result in zip(group, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
            new = [
                r
                for item, flags in zip(group, results, strict=True)
                for r, is_new in zip(item.records, flags, strict=True)
                if is_new
            ]
            for listener in self.on_commit:
                try:
                    listener(new)
                except Exception:  # a listener's bug must not strand the writers queued
                    log.exception("commit listener failed")

    async def _write_group(self, group: list[_Pending]) -> list[list[bool]]:
        held = await self._held(list({r.id for item in group for r in item.records}))
        new, results = claim(group, held)
        if new:
            await self._insert(list(new.values()))
        return results

    async def _held(self, ids: list[bytes]) -> set[bytes]:
        held: set[bytes] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self.writer.execute_fetchall(
                f"SELECT id FROM records WHERE id IN ({marks})", chunk
            )
            held.update(row[0] for row in rows)
        return held

    async def _insert(self, items: list[tuple[Record, int, bytes | None]]) -> None:
        facts: dict[str, list[tuple[object, ...]]] = {}
        for record, _, _ in items:
            fact = facts_of(record)
            if fact is not None:
                facts.setdefault(fact[0], []).append(fact[1])
        rows = [record_row(record).params(received, origin) for record, received, origin in items]
        db = self.writer
        async with self._write_lock:
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
            self._search_churn += sum(1 for r, _, _ in items if r.kind == SEARCHED_KIND)
            if self._search_churn >= SEARCH_MERGE_EVERY:
                self._search_churn = 0
                await db.execute(SEARCH_MERGE)

    async def put_draft(self, draft_id: bytes, member: bytes, wire: bytes, created: int) -> bool:
        """Keep an alliance draft for its member to co-sign (a newer one replaces it)."""
        return bool(
            await self.write(
                "INSERT OR REPLACE INTO drafts (id, member, wire, created) VALUES (?, ?, ?, ?)",
                (draft_id, member, wire, created),
            )
        )

    # ----- private records (node/storage/private.py): node-local, outside ``records``

    async def mark_draft_private(self, draft_id: bytes) -> None:
        """The alliance of this draft, once co-signed, is kept private to its two parties."""
        self._private_kept = True
        await self.write("INSERT OR IGNORE INTO private_drafts (id) VALUES (?)", (draft_id,))

    async def is_draft_private(self, draft_id: bytes) -> bool:
        rows = await self.reader.execute_fetchall(
            "SELECT 1 FROM private_drafts WHERE id = ?", (draft_id,)
        )
        return bool(rows)

    async def classify_private(self, records: Sequence[Record]) -> list[private.Parties | None]:
        """For each record, the two parties it is private to, or None (a public record)."""
        if not self._private_kept:
            return [None] * len(records)
        return await private.classify(self.writer, records)

    async def add_private(
        self, items: Sequence[tuple[Record, private.Parties]], received_ms: int
    ) -> list[bool]:
        """Keep private records (never announced); for each, True when it was new."""
        if not items:
            return []
        self._private_kept = True
        db = self.writer
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                flags = await private.insert_all(db, items, received_ms)
                await db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    await db.execute("ROLLBACK")
                raise
        return flags

    async def get_private(self, record_id: bytes) -> private.PrivateRow | None:
        return await private.get_private(self.reader, record_id)

    async def private_of(self, party: bytes) -> list[bytes]:
        """Wire bytes of the live private records ``party`` is one of the two parties of."""
        return await private.private_of(self.reader, party)

    async def write(self, sql: str, params: tuple[object, ...]) -> int:
        """One statement in its own committed transaction, never inside a record batch."""
        async with self._write_lock:
            cursor = await self.writer.execute(sql, params)
            return cursor.rowcount
