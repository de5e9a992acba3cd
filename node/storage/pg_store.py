"""The PostgreSQL engine: ``PgStore`` and ``PgPeerTable``, the storage interface on asyncpg.

Reads are the SQLite engine's own methods (``StoreReads``, ``PeerTable``) running on a
``PgConnection``, which speaks the shared SQL to PostgreSQL. Writes keep the SQLite engine's
group commit (concurrent ``add`` calls share one transaction) and add what several processes
writing one database need: every record transaction holds one advisory lock, so transactions
commit in the order of the ``seq`` they draw and an arrival cursor never passes a record that
commits later; the held-ids check runs inside that lock, so two processes never both announce
one record as new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from node.storage import facterasure, private
from node.storage.facts import FACT_INSERTS, facts_of, record_row
from node.storage.facttables import pg_sync
from node.storage.identities import purge_refused_key_events
from node.storage.peers import SEED, PeerTable
from node.storage.pg_connection import PgConnection, connect
from node.storage.pg_schema import KEY_EVENTS_KNOWN, MIGRATIONS
from node.storage.store import _INSERT_RECORD, Store, StoreError, _Pending, claim
from node.storage.transfer import StoredRow
from protocol import Record, parse

WRITE_LOCK = 0x52414B55  # "RAKU": the advisory lock every record transaction holds
CHANNEL = "rakuichi_records"  # NOTIFY payload: "<writer instance> <first seq> <last seq>"
MIGRATE_LOCK = 0x52414B4D  # "RAKM": one process migrates at a time
log = logging.getLogger("rakuichi.store")


async def migrate(db: PgConnection) -> int:
    """Apply the migrations not yet applied (under a lock: processes may start together)."""
    async with db.transaction(lock=MIGRATE_LOCK) as tx:
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        rows = await tx.execute_fetchall("SELECT max(version) FROM schema_version")
        version = rows[0][0] or 0
        if version > len(MIGRATIONS):
            raise StoreError(f"database schema {version} is newer than this software knows")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await tx.execute_script(script)
            if number == KEY_EVENTS_KNOWN:
                await purge_refused_key_events(tx)
            await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        # fact tables, and their cleanup on retraction, follow the kind table (said of a
        # store made before: a new one is simply made so)
        changed = [*await pg_sync(tx), *await facterasure.pg_sync(tx)]
        for change in changed if version else []:
            log.warning("fact tables brought up to the kind table: %s", change)
    return len(MIGRATIONS)


class PgStore(Store):
    """Records and their derived views in a PostgreSQL database."""

    writer: PgConnection  # type: ignore[assignment]
    reader: PgConnection  # type: ignore[assignment]

    def __init__(self, dsn: str, db: PgConnection) -> None:
        super().__init__(Path(dsn), db, db)  # type: ignore[arg-type]
        self.dsn = dsn
        self.instance = uuid.uuid4().hex[:12]
        self._listener: asyncpg.Connection | None = None
        self._others: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._follower: asyncio.Task[None] | None = None

    async def follow_other_writers(self) -> None:
        """Also call ``on_commit`` for what other processes commit to this database (LISTEN):
        a node of several processes keeps each one's stream, caches and sync index whole."""
        if self._listener is not None:
            return
        self._listener = await asyncpg.connect(self.dsn)
        await self._listener.add_listener(CHANNEL, self._notified)
        self._follower = asyncio.create_task(self._announce_others(), name="pg-follow")

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        instance, first, last = payload.split()
        if instance != self.instance:
            self._others.put_nowait((int(first), int(last)))

    async def _announce_others(self) -> None:
        """One at a time, in commit order: the records another process committed."""
        while True:
            first, last = await self._others.get()
            try:
                rows = await self.reader.execute_fetchall(
                    "SELECT wire FROM records WHERE seq BETWEEN ? AND ? AND wire IS NOT NULL"
                    " ORDER BY seq",
                    (first, last),
                )
                records = [parse(row[0]) for row in rows]
            except Exception:
                log.exception("reading records committed by another process failed")
                continue
            for listener in self.on_commit:
                try:
                    listener(records)
                except Exception:
                    log.exception("commit listener failed")

    async def publish_status(self, name: str, body: str, now_ms: int) -> None:
        """Show ``body`` (JSON text) to the node's other processes as ``name``."""
        await self.writer.execute(
            "INSERT INTO shared_status (name, body, updated) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated = excluded.updated",
            (name, body, now_ms),
        )

    async def read_status(self, name: str) -> tuple[str, int] | None:
        """The JSON text another process published as ``name``, and when (ms)."""
        rows = await self.reader.execute_fetchall(
            "SELECT body, updated FROM shared_status WHERE name = ?", (name,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    @classmethod
    async def open(cls, path: str | object) -> PgStore:  # type: ignore[override]
        dsn = str(path)
        try:
            db = await connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot open the PostgreSQL database: {exc}") from None
        try:
            await migrate(db)
        except BaseException:
            with contextlib.suppress(Exception):
                await db.close()
            raise
        return cls(dsn, db)

    async def close(self) -> None:
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follower
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        await self.writer.close()

    async def _write_group(self, group: list[_Pending]) -> list[list[bool]]:
        async with self._write_lock, self.writer.transaction(lock=WRITE_LOCK) as tx:
            ids = list({r.id for item in group for r in item.records})
            rows = await tx.execute_fetchall("SELECT id FROM records WHERE id = ANY(?)", [ids])
            new, results = claim(group, {row[0] for row in rows})
            if new:
                await self._insert_in(tx, list(new.values()))
                (span,) = await tx.execute_fetchall(
                    "SELECT min(seq), max(seq) FROM records WHERE id = ANY(?)", [list(new)]
                )
                await tx.execute(
                    "SELECT pg_notify(?, ?)", (CHANNEL, f"{self.instance} {span[0]} {span[1]}")
                )
        return results

    @staticmethod
    async def _insert_in(tx: PgConnection, items: list[tuple[Record, int, bytes | None]]) -> None:
        facts: dict[str, list[tuple[object, ...]]] = {}
        for record, _, _ in items:
            fact = facts_of(record)
            if fact is not None:
                facts.setdefault(fact[0], []).append(fact[1])
        for table, params in facts.items():
            await tx.executemany(FACT_INSERTS[table], params)
        rows = [record_row(record).params(received, origin) for record, received, origin in items]
        await tx.executemany(_INSERT_RECORD, rows)

    async def import_rows(
        self,
        rows: list[StoredRow],
        peers: Sequence[tuple[object, ...]] = (),
        drafts: Sequence[tuple[object, ...]] = (),
    ) -> None:
        """Rows exported from another store, as they were (``seq`` kept), in one transaction;
        the triggers rebuild the views. Peers and drafts come along with the last batch."""
        async with self._write_lock, self.writer.transaction(lock=WRITE_LOCK) as tx:
            facts: dict[str, list[tuple[object, ...]]] = {}
            for row in rows:
                fact = facts_of(parse(row.wire)) if row.wire is not None else None
                if fact is not None:
                    facts.setdefault(fact[0], []).append(fact[1])
            for table, params in facts.items():
                await tx.executemany(FACT_INSERTS[table], params)
            await tx.executemany(
                "INSERT INTO records (seq, id, kind, author, created, subject, ref, slot, wire,"
                " retracted, received, origin) OVERRIDING SYSTEM VALUE"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row.params() for row in rows],
            )
            await tx.execute(
                "SELECT setval(pg_get_serial_sequence('records', 'seq'),"
                " (SELECT coalesce(max(seq), 0) + 1 FROM records), false)"
            )
            await tx.executemany(
                "INSERT INTO peers (url, source, node_key, org, cursor, last_success, last_error,"
                " error, failures, last_sync, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO NOTHING",
                list(peers),
            )
            await tx.executemany(
                "INSERT INTO drafts (id, member, wire, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                list(drafts),
            )

    async def put_draft(self, draft_id: bytes, member: bytes, wire: bytes, created: int) -> bool:
        """Keep an alliance draft for its member to co-sign (a newer one replaces it)."""
        return bool(
            await self.write(
                "INSERT INTO drafts (id, member, wire, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET member = EXCLUDED.member,"
                " wire = EXCLUDED.wire, created = EXCLUDED.created",
                (draft_id, member, wire, created),
            )
        )

    async def add_private(
        self, items: Sequence[tuple[Record, private.Parties]], received_ms: int
    ) -> list[bool]:
        """Keep private records (node/storage/private.py) in one transaction."""
        if not items:
            return []
        async with self._write_lock, self.writer.transaction() as tx:
            return await private.insert_all(tx, items, received_ms)


class PgPeerTable(PeerTable):
    """The peers table in PostgreSQL (the queries are ``PeerTable``'s)."""

    db: PgConnection  # type: ignore[assignment]

    @classmethod
    async def open(cls, path: str | object) -> PgPeerTable:  # type: ignore[override]
        return cls(await connect(str(path), max_size=2))  # type: ignore[arg-type]

    async def ensure(self, url: str, source: str, cursor: int, now_ms: int) -> bool:
        done = await self.db.execute(
            "INSERT INTO peers (url, source, cursor, added) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (url) DO NOTHING",
            (url, source, cursor, now_ms),
        )
        if done.rowcount:
            return True
        if source == SEED:
            await self.db.execute("UPDATE peers SET source = ? WHERE url = ?", (SEED, url))
        return False
