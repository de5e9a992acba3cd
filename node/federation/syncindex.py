"""The node's reconciliation item set: ``(created, id)`` of every record held, in memory.

Loaded in the background after start (start-up reads nothing), then kept current from the
store's commits. Until it is loaded the node answers sync requests with "try later".
"""

from __future__ import annotations

import asyncio
import logging

import aiosqlite

from protocol.itemset import MemoryItemSet
from protocol.record import Record

log = logging.getLogger("rakuichi.federation")
LOAD_CHUNK = 50_000


class SyncIndex:
    def __init__(self) -> None:
        self.items = MemoryItemSet()
        self.ready = asyncio.Event()
        self._early: list[tuple[int, bytes]] = []

    def on_commit(self, records: list[Record]) -> None:
        """Store listener: add what each commit made new (buffered while loading)."""
        if self.ready.is_set():
            for record in records:
                self.items.add(record.created, record.id)
        else:
            self._early.extend((r.created, r.id) for r in records)

    async def load(self, db: aiosqlite.Connection) -> None:
        """Read every held (created, id) in key order, in chunks, without blocking the loop."""
        loaded: list[tuple[int, bytes]] = []
        after: tuple[int, bytes] = (-1, b"")
        while True:
            rows = await db.execute_fetchall(
                "SELECT created, id FROM records WHERE (created, id) > (?, ?)"
                " ORDER BY created, id LIMIT ?", (*after, LOAD_CHUNK))
            loaded.extend((r[0], r[1]) for r in rows)
            if len(rows) < LOAD_CHUNK:
                break
            after = (rows[-1][0], rows[-1][1])
            await asyncio.sleep(0)
        self.items = MemoryItemSet(loaded)
        for created, rid in self._early:
            self.items.add(created, rid)
        self._early.clear()
        self.ready.set()
        log.info("sync index loaded: %d records", len(self.items))
