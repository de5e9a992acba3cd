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


class Batch:
    """The events of one round for one filter: rendered once, written to every subscriber of
    that filter as the same bytes (framed as one HTTP chunk, or bare for HTTP/1.0)."""

    __slots__ = ("_bare", "_chunk", "items", "size")

    def __init__(self, items: list[tuple[int, bytes]]) -> None:
        self.items = items  # (cursor, frame) in cursor order
        self.size = sum(len(frame) for _, frame in items)
        self._bare: bytes | None = None
        self._chunk: bytes | None = None

    def bytes(self, chunked: bool) -> bytes:
        if self._bare is None:
            self._bare = b"".join(frame for _, frame in self.items)
        if not chunked:
            return self._bare
        if self._chunk is None:
            self._chunk = frame_chunk(self._bare)
        return self._chunk


def frame_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of HTTP/1.1 chunked transfer coding."""
    return b"%x\r\n%b\r\n" % (len(data), data)


@dataclass(eq=False)
class Subscriber:
    """One open stream: its filter, its position and how its events reach its connection.

    Until its backlog is written (``live`` unset) events are queued in ``pending``. Once live,
    events are written straight into the connection's transport by the hub, without waking the
    subscriber's task; what the transport has not sent yet is the subscriber's buffer."""

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
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    on_overflow: Callable[[], object] | None = None
    transport: asyncio.WriteTransport | None = None  # set once live
    chunked: bool = True

    @property
    def live(self) -> bool:
        return self.transport is not None

    def go_live(self, transport: asyncio.WriteTransport, chunked: bool) -> None:
        """Write what was queued during the backlog and take later events directly."""
        self.transport, self.chunked = transport, chunked
        if self.pending:
            self.write(b"".join(self.pending), self.pending_seq)
            self.pending, self.pending_bytes = [], 0

    def write(self, data: bytes, seq: int = 0, framed: bool = False) -> None:
        """Hand ``data`` (whole events, or a comment) to the connection's transport."""
        transport = self.transport
        assert transport is not None
        if transport.is_closing():  # the peer went away: end the stream
            self.close()
            return
        transport.write(data if framed or not self.chunked else frame_chunk(data))
        self.delivered = max(self.delivered, seq)

    def unsent(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def offer(self, batch: Batch) -> None:
        """Deliver (live) or queue (backlog) a batch of events. What does not fit in the buffer
        is not taken: the subscriber is marked overflowed, to be closed with the cursor of the
        last event taken to resume from."""
        items, size = batch.items, batch.size
        if not items or self.overflowed or self.closing:
            return
        if items[0][0] <= self.floor:
            items = [item for item in items if item[0] > self.floor]
            if not items:
                return
            batch = Batch(items)
            size = batch.size
        if self.live:
            if self.unsent() + size <= self.buffer_bytes:
                self.write(batch.bytes(self.chunked), items[-1][0], framed=True)
                return
            self._take_what_fits(items, self.unsent())
        elif self.pending_bytes + size <= self.buffer_bytes:
            self.pending.extend(frame for _, frame in items)
            self.pending_bytes += size
            self.pending_seq = items[-1][0]
        else:
            self._take_what_fits(items, self.pending_bytes)

    def _take_what_fits(self, items: list[tuple[int, bytes]], held: int) -> None:
        taken: list[tuple[int, bytes]] = []
        for item in items:
            if held + len(item[1]) > self.buffer_bytes and (held or taken):
                break
            taken.append(item)
            held += len(item[1])
        if taken and self.live:
            self.write(b"".join(frame for _, frame in taken), taken[-1][0])
        elif taken:
            self.pending.extend(frame for _, frame in taken)
            self.pending_bytes += sum(len(frame) for _, frame in taken)
            self.pending_seq = taken[-1][0]
        self.overflowed = True
        if self.on_overflow is not None:
            self.on_overflow()
        self.wake.set()

    def beat(self) -> None:
        """A heartbeat comment, unless the connection still has bytes to send anyway."""
        if self.live and not self.overflowed and not self.closing and not self.unsent():
            self.write(HEARTBEAT)

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
        self.filters = FilterIndex()
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
        self.filters.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.filters.remove(sub)

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
                # each round writes to every subscriber: under a stream of commits, a few dozen
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
        """Hand out the events of ``rows`` and advance the cursor, without awaiting: each
        record is rendered once, and each filter's batch is joined once for all its
        subscribers."""
        items = [(r.row.seq, event_frame(r)) for r in rows]
        for where, batch_items in self.filters.split(rows, items):
            batch = Batch(batch_items)
            for sub in list(self.filters.groups.get(where, ())):
                sub.offer(batch)
        self.seq = rows[-1].row.seq

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            for sub in list(self.subscribers):
                sub.beat()


EVERYTHING = StreamFilter()
Anchor = tuple[str, object]


class FilterIndex:
    """Subscribers grouped by filter, and each filter indexed under one value it requires
    (a subject, else an author, else a kind): a record is matched only against the filters
    indexed under its own subject, author and kind, plus the filter that takes everything."""

    def __init__(self) -> None:
        self.groups: dict[StreamFilter, set[Subscriber]] = {}
        self.anchored: dict[Anchor, set[StreamFilter]] = {}

    @staticmethod
    def anchors(where: StreamFilter) -> list[Anchor]:
        if where.subjects:
            return [("subject", s) for s in where.subjects]
        if where.authors:
            return [("author", a) for a in where.authors]
        return [("kind", k) for k in where.kinds]

    def add(self, sub: Subscriber) -> None:
        group = self.groups.setdefault(sub.where, set())
        if not group:
            for anchor in self.anchors(sub.where):
                self.anchored.setdefault(anchor, set()).add(sub.where)
        group.add(sub)

    def remove(self, sub: Subscriber) -> None:
        group = self.groups.get(sub.where)
        if group is None:
            return
        group.discard(sub)
        if not group:
            del self.groups[sub.where]
            for anchor in self.anchors(sub.where):
                filters = self.anchored.get(anchor)
                if filters is not None:
                    filters.discard(sub.where)
                    if not filters:
                        del self.anchored[anchor]

    def split(
        self, rows: list[StreamRow], items: list[tuple[int, bytes]]
    ) -> list[tuple[StreamFilter, list[tuple[int, bytes]]]]:
        """Each filter with subscribers, and the events of ``rows`` it matches (in order)."""
        out: dict[StreamFilter, list[tuple[int, bytes]]] = {}
        if EVERYTHING in self.groups:
            out[EVERYTHING] = items
        if len(self.groups) > len(out):
            anchored = self.anchored
            for r, item in zip(rows, items, strict=True):
                kind, author, subject = r.row.kind, r.row.author, r.subject
                candidates = anchored.get(("kind", kind), set()) | anchored.get(
                    ("author", author), set()
                )
                if subject is not None:
                    candidates = candidates | anchored.get(("subject", subject), set())
                for where in candidates:
                    if where.matches(kind, author, subject):
                        out.setdefault(where, []).append(item)
        return [(where, batch) for where, batch in out.items() if batch]
