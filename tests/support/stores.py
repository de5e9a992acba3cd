"""The two storage engines, side by side, for tests that must hold on both.

``Engine.fresh()`` names an empty store (a new SQLite file, or a new database on the tests'
PostgreSQL server) and ``Engine.open()`` opens it with the engine's store class (``open_peers()``
its peers table), so one test body runs unchanged on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from node.storage.peers import PeerTable
from node.storage.pg_store import PgPeerTable, PgStore
from node.storage.store import Store
from tests.support.postgres import database_dsn

ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Engine:
    name: str
    tmp: Path
    server_dsn: str | None = None  # the PostgreSQL server, for the postgresql engine

    async def fresh(self, label: str) -> str:
        """Where a new, empty store lives: a file path or a database DSN."""
        if self.name == "sqlite":
            return str(self.tmp / f"{label}-{uuid.uuid4().hex[:8]}.db")
        assert self.server_dsn is not None
        name = f"t_{uuid.uuid4().hex[:16]}"
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return database_dsn(self.server_dsn, name)

    async def open(self, place: str) -> Store:
        if self.name == "sqlite":
            return await Store.open(Path(place))
        return await PgStore.open(place)

    async def open_peers(self, place: str) -> PeerTable:
        """The peers table of the store at ``place`` (open the store first: it migrates)."""
        if self.name == "sqlite":
            return await PeerTable.open(Path(place))
        return await PgPeerTable.open(place)


__all__ = ["ENGINES", "Engine"]
