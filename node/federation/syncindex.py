"""The node's reconciliation item set: ``(created, id)`` of every live record, in memory.

Loaded in the background after start (start-up reads nothing), then kept current from the
store's commits. Until it is loaded the node answers sync requests with "try later".
Retracted records (tombstones) are left out: their content is gone, so no peer could fetch
them, while the retract itself is in the set and erases the target wherever it arrives.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from protocol import MemoryItemSet, Record, kinds, respond

log = logging.getLogger("rakuichi.federation")
LOAD_CHUNK = 50_000


class SyncKeys(Protocol):
    """What the index reads from the store (``node.storage.store.Store`` provides it)."""

    async def live_keys(self, after: tuple[int, bytes], limit: int) -> list[tuple[int, bytes]]: ...

    async def erased_among(self, ids: list[bytes]) -> list[tuple[int, bytes]]: ...


class IndexLoading(Exception):
    """The index is still being read from the store: a sync request must come back later."""


class SyncIndex:
    def __init__(self) -> None:
        self.items = MemoryItemSet()
        self.ready = asyncio.Event()
        self._early: list[tuple[int, bytes]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def on_commit(self, records: list[Record], store: SyncKeys | None = None) -> None:
        """Store listener: add what each commit made new (buffered while loading), then take
        out whatever that commit erased (a retract's target, or a target that came late)."""
        if self.ready.is_set():
            for record in records:
                self.items.add(record.created, record.id)
        else:
            self._early.extend((r.created, r.id) for r in records)
        maybe_erased = [r.id for r in records if r.kind not in kinds.NOT_RETRACTABLE]
        maybe_erased += [r.body["target"] for r in records if r.kind == kinds.RETRACT]
        if store is not None and maybe_erased:
            task = asyncio.get_running_loop().create_task(self._drop_erased(store, maybe_erased))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def answer(self, message: bytes) -> bytes:
        """This node's reply to one reconciliation message (docs/sync.md).

        Raises ``IndexLoading`` until the index is loaded, and ``protocol.Rejected`` for a
        message that is not one.
        """
        if not self.ready.is_set():
            raise IndexLoading("sync index still loading; try again shortly")
        return respond(self.items, message)

    @property
    def pending_tasks(self) -> list[asyncio.Task[None]]:
        """Removals still running (cancelled when the federation stops)."""
        return list(self._tasks)

    async def _drop_erased(self, store: SyncKeys, ids: list[bytes]) -> None:
        erased = await store.erased_among(ids)
        await self.ready.wait()
        for created, rid in erased:
            self.items.remove(created, rid)

    async def load(self, store: SyncKeys) -> None:
        """Read every held (created, id) in key order, in chunks, without blocking the loop."""
        loaded: list[tuple[int, bytes]] = []
        after: tuple[int, bytes] = (-1, b"")
        while True:
            keys = await store.live_keys(after, LOAD_CHUNK)
            loaded.extend(keys)
            if len(keys) < LOAD_CHUNK:
                break
            after = keys[-1]
            await asyncio.sleep(0)
        self.items = MemoryItemSet(loaded)
        for created, rid in self._early:
            self.items.add(created, rid)
        self._early.clear()
        self.ready.set()
        log.info("sync index loaded: %d records", len(self.items))
