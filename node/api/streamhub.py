"""The live stream's hub: one reader of new records, fanning them out to every subscriber.

The hub follows the store's arrival cursor (``seq``). After each commit it reads the records
after ``self.seq`` once, encodes each as one Server-Sent Event once, and hands the same bytes to
every subscriber whose filter matches; then it advances ``self.seq``. Handing out and advancing
happen in one step without awaiting, so at any moment every record up to ``self.seq`` is
committed (a subscriber reads those from the store) and every record after it will be handed to
each subscriber registered now. A subscriber registered when ``self.seq`` was S therefore reads
its backlog in ``(cursor, S]`` and then takes the live events, which are all after S: none lost,
none twice, whatever commits while it catches up.

Each subscriber holds at most ``buffer_bytes`` of events not yet written to its connection;
past that it is marked overflowed (its buffer dropped) and its handler ends the stream with an
event naming the cursor to resume from. Memory therefore stays bounded per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from node.api.records import row_json
from node.storage.interface import RecordStore
from node.storage.stream_queries import StreamFilter, StreamRow
from protocol import Record

log = logging.getLogger("rakuichi.stream")
FANOUT_BATCH = 1000  # records read per round of the hub
ROUND_INTERVAL = 0.025  # seconds between rounds at most: commits in between share one round
HEARTBEAT = b": heartbeat\n\n"


def event_frame(item: StreamRow) -> bytes:
    """One record as a Server-Sent Event: ``id`` the arrival cursor, ``event`` the kind."""
    data = json.dumps(row_json(item.row), separators=(",", ":"), ensure_ascii=False)
    return f"id: {item.row.seq}\nevent: {item.row.kind}\ndata: {data}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    """One open stream: its filter, its position and the events waiting to be written."""

    where: StreamFilter
    floor: int  # events at or before this cursor were delivered from the backlog, or asked past
    start: int  # the hub's cursor when this subscriber registered: the backlog ends there
    buffer_bytes: int
    delivered: int = 0  # cursor of the last event handed to the connection
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    pending_seq: int = 0
    overflowed: bool = False
    closing: bool = False
    heartbeat: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    on_overflow: Callable[[], object] | None = None

    def offer(self, items: list[tuple[int, bytes]], size: int) -> None:
        """Queue events (cursor and frame; ``size`` their total bytes). What does not fit in
        the buffer is not queued: the subscriber is marked overflowed, to be closed once what
        was queued is written, with the cursor of the last queued event to resume from."""
        if items and items[0][0] <= self.floor:
            items = [item for item in items if item[0] > self.floor]
            size = sum(len(frame) for _, frame in items)
        if self.overflowed or not items:
            return
        if self.pending_bytes + size <= self.buffer_bytes:
            self.pending.extend(frame for _, frame in items)
            self.pending_bytes += size
            self.pending_seq = items[-1][0]
        else:
            for seq, frame in items:
                if self.pending and self.pending_bytes + len(frame) > self.buffer_bytes:
                    self.overflowed = True
                    if self.on_overflow is not None:
                        self.on_overflow()
                    break
                self.pending.append(frame)
                self.pending_bytes += len(frame)
                self.pending_seq = seq
        self.wake.set()

    def take(self) -> bytes:
        """Everything queued, as one write; the delivered cursor moves past it."""
        chunk = b"".join(self.pending)
        if self.pending:
            self.delivered = max(self.delivered, self.pending_seq)
        self.pending, self.pending_bytes = [], 0
        return chunk

    def close(self) -> None:
        self.closing = True
        self.wake.set()


class StreamHub:
    def __init__(
        self,
        store: RecordStore,
        heartbeat: float,
        buffer_bytes: int,
        max_subscribers: int,
    ) -> None:
        self.store = store
        self.heartbeat = heartbeat
        self.buffer_bytes = buffer_bytes
        self.max_subscribers = max_subscribers
        self.seq = 0
        self.subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.seq = await self.store.last_seq()
        self.store.on_commit.append(self.notify)
        self._tasks = [
            asyncio.create_task(self._follow(), name="stream-hub"),
            asyncio.create_task(self._beat(), name="stream-heartbeat"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.on_commit.remove(self.notify)
        for sub in self.subscribers:
            sub.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def notify(self, new: list[Record]) -> None:
        """The store's commit listener: wake the hub when a commit made records new."""
        if new:
            self._wake.set()

    @property
    def full(self) -> bool:
        return len(self.subscribers) >= self.max_subscribers

    def subscribe(self, where: StreamFilter, cursor: int) -> Subscriber:
        """Register a subscriber that has seen everything up to ``cursor``. Synchronous, so
        that ``start`` is exactly the hub's cursor from which it hands events out."""
        sub = Subscriber(where, cursor, self.seq, self.buffer_bytes, delivered=cursor)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._catch_up()
            except Exception:
                log.exception("stream hub failed to read new records; retrying")
                await asyncio.sleep(1.0)
                self._wake.set()
            if self.subscribers:
                # each round wakes every subscriber: under a stream of commits, a few dozen
                # rounds a second (each carrying many records) cost far less than one a commit
                await asyncio.sleep(ROUND_INTERVAL)

    async def _catch_up(self) -> None:
        store = self.store
        while True:
            if not self.subscribers:
                top = await store.last_seq()
                if not self.subscribers:  # nobody registered meanwhile: nothing to hand out
                    self.seq = max(self.seq, top)
                    return
                continue
            rows = await store.stream_rows(self.seq, None, StreamFilter(), FANOUT_BATCH)
            if rows:
                self._fan_out(rows)
            if len(rows) < FANOUT_BATCH:
                return

    def _fan_out(self, rows: list[StreamRow]) -> None:
        """Hand out the events of ``rows`` and advance the cursor, without awaiting."""
        items = [(r.row.seq, event_frame(r)) for r in rows]
        total = sum(len(frame) for _, frame in items)
        everything = StreamFilter()
        for sub in list(self.subscribers):
            if sub.where == everything:
                sub.offer(items, total)
                continue
            mine = [
                item
                for r, item in zip(rows, items, strict=True)
                if sub.where.matches(r.row.kind, r.row.author, r.subject)
            ]
            sub.offer(mine, sum(len(frame) for _, frame in mine))
        self.seq = rows[-1].row.seq

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            for sub in self.subscribers:
                sub.heartbeat = True
                sub.wake.set()
