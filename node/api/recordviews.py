"""Rendered JSON views of records by id, kept in a bounded LRU.

A record is immutable and named by the hash of its bytes, so the JSON view of an id never
changes: the only event that ends it is a retract. The by-id route still asks the store whether
the id is live on every request (one primary-key lookup), so a view is never served for a record
retracted meanwhile, even by another process of the node; ``on_commit`` drops retracted ids
only to give their memory back.
"""

from __future__ import annotations

from collections import OrderedDict

from aiohttp import web

from protocol import Record, kinds

MAX_BYTES = 16 * 1024 * 1024  # rendered JSON held at most (about 10k typical records)


class RecordViews:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._views: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def get(self, record_id: bytes) -> bytes | None:
        view = self._views.get(record_id)
        if view is not None:
            self._views.move_to_end(record_id)
        return view

    def put(self, record_id: bytes, view: bytes) -> None:
        if len(view) > self.max_bytes or record_id in self._views:
            return
        self._views[record_id] = view
        self.size += len(view)
        while self.size > self.max_bytes:
            _, dropped = self._views.popitem(last=False)
            self.size -= len(dropped)

    def forget(self, record_id: bytes) -> None:
        view = self._views.pop(record_id, None)
        if view is not None:
            self.size -= len(view)

    def on_commit(self, records: list[Record]) -> None:
        """The store's commit listener: a retract's target leaves the cache."""
        for record in records:
            if record.kind == kinds.RETRACT:
                self.forget(record.body["target"])


RECORD_VIEWS = web.AppKey("record_views", RecordViews)
