"""Storage: the only part of the node that issues SQL (see ``interface`` for what it offers)."""

from node.storage.interface import PeerStore, RecordStore
from node.storage.peers import PeerTable
from node.storage.store import Store

# the SQLite engine implements the interface (checked by mypy)
_SQLITE_ENGINE: tuple[type[RecordStore], type[PeerStore]] = (Store, PeerTable)

__all__ = ["PeerStore", "PeerTable", "RecordStore", "Store"]
