"""Which engine a node's storage runs on, from ``[storage] url``: the one place that knows.

SQLite (the default, one file in the home) needs nothing installed; PostgreSQL needs the
``postgresql`` extra (asyncpg), imported only when a node is configured for it.
"""

from __future__ import annotations

from node.config import NodeConfig
from node.storage.interface import PeerStore, RecordStore
from node.storage.peers import PeerTable
from node.storage.store import Store, StoreError


def _postgres() -> object:
    try:
        from node.storage import pg_store
    except ImportError as exc:  # asyncpg missing
        raise StoreError(
            f"[storage] url names PostgreSQL, but its driver is not installed ({exc}); "
            "install it with: pip install 'rakuichi[postgresql]'"
        ) from None
    return pg_store


async def open_record_store(config: NodeConfig) -> RecordStore:
    """The node's record store, opened (and migrated) on its configured engine."""
    dsn = config.postgresql_dsn
    if dsn is None:
        return await Store.open(config.database_path)
    return await _postgres().PgStore.open(dsn)  # type: ignore[attr-defined, no-any-return]


async def open_peer_store(config: NodeConfig) -> PeerStore:
    """The peers table, on the same engine as the records (its outbox reads them)."""
    dsn = config.postgresql_dsn
    if dsn is None:
        return await PeerTable.open(config.database_path)
    return await _postgres().PgPeerTable.open(dsn)  # type: ignore[attr-defined, no-any-return]


def engine_name(config: NodeConfig) -> str:
    return "sqlite" if config.postgresql_dsn is None else "postgresql"
