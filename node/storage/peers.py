"""Each peer's persisted state (identity, push cursor, successes and failures) and its outbox.

``PeerTable`` is the storage interface the federation uses for its peers: the SQLite engine
here, on a connection of its own so that peer bookkeeping never lands inside the record
writer's transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from node.storage.keycolumns import key_column, key_from_column

SEED = "seed"
# A batch stays well under any peer's body limit (default 8 MiB): 2 MiB is ~30 maximal records.
MAX_BATCH_BYTES = 2 * 1024 * 1024
BATCH_FRAMING = 8  # msgpack bytes around each record of a batch (bin header), with room


def batch_budget(peer_body_limit: int) -> int:
    """Bytes of records per request to a peer that takes bodies up to ``peer_body_limit``."""
    return max(1, min(MAX_BATCH_BYTES, peer_body_limit - 64))  # 64: the array header and slack


LEARNED = "learned"

_COLUMNS = (
    "url, source, node_key, org, cursor, last_success, last_error, error, failures,"
    " last_sync, added"
)


@dataclass(frozen=True)
class PeerState:
    url: str
    source: str
    node_key: bytes | None  # raw; stored as did:key text
    org: bytes | None
    cursor: int
    last_success: int | None
    last_error: int | None
    error: str | None
    failures: int
    last_sync: int | None
    added: int


def _state(row: Any) -> PeerState:
    url, source, node_key, org, *rest = row
    return PeerState(url, source, key_from_column(node_key), key_from_column(org), *rest)


class PeerTable:
    """The ``peers`` table and each peer's outbox (records past its cursor, not echoed)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path) -> PeerTable:
        db = await aiosqlite.connect(str(path), isolation_level=None)
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.execute("PRAGMA synchronous = FULL")
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def all(self) -> dict[str, PeerState]:
        rows = await self.db.execute_fetchall(f"SELECT {_COLUMNS} FROM peers ORDER BY added, url")
        return {r[0]: _state(r) for r in rows}

    async def get(self, url: str) -> PeerState | None:
        rows = list(
            await self.db.execute_fetchall(f"SELECT {_COLUMNS} FROM peers WHERE url = ?", (url,))
        )
        return _state(rows[0]) if rows else None

    async def ensure(self, url: str, source: str, cursor: int, now_ms: int) -> bool:
        """Add a peer starting at ``cursor``; a seed upgrades a learned row. True when new."""
        cur = await self.db.execute(
            "INSERT OR IGNORE INTO peers (url, source, cursor, added) VALUES (?, ?, ?, ?)",
            (url, source, cursor, now_ms),
        )
        if cur.rowcount:
            return True
        if source == SEED:
            await self.db.execute("UPDATE peers SET source = ? WHERE url = ?", (SEED, url))
        return False

    async def forget(self, url: str) -> None:
        await self.db.execute("DELETE FROM peers WHERE url = ?", (url,))

    async def set_identity(self, url: str, node_key: bytes, org: bytes) -> None:
        await self.db.execute(
            "UPDATE peers SET node_key = ?, org = ? WHERE url = ?",
            (key_column(node_key), key_column(org), url),
        )

    async def advance(self, url: str, cursor: int, now_ms: int) -> None:
        await self.db.execute(
            "UPDATE peers SET cursor = max(cursor, ?), last_success = ?, failures = 0,"
            " error = NULL WHERE url = ?",
            (cursor, now_ms, url),
        )

    async def succeeded(self, url: str, now_ms: int) -> None:
        await self.db.execute(
            "UPDATE peers SET last_success = ?, failures = 0, error = NULL WHERE url = ?",
            (now_ms, url),
        )

    async def failed(self, url: str, now_ms: int, error: str) -> int:
        await self.db.execute(
            "UPDATE peers SET last_error = ?, error = ?, failures = failures + 1 WHERE url = ?",
            (now_ms, error[:500], url),
        )
        rows = list(
            await self.db.execute_fetchall("SELECT failures FROM peers WHERE url = ?", (url,))
        )
        return int(rows[0][0]) if rows else 1

    async def synced(self, url: str, now_ms: int) -> None:
        await self.db.execute("UPDATE peers SET last_sync = ? WHERE url = ?", (now_ms, url))

    async def backlog(self, origin_key: bytes | None, cursor: int) -> int:
        rows = list(
            await self.db.execute_fetchall(
                "SELECT count(*) FROM records WHERE seq > ? AND wire IS NOT NULL"
                " AND (origin IS NULL OR origin != ?)",
                (cursor, key_column(origin_key) or ""),
            )
        )
        return int(rows[0][0])

    async def outbox(
        self, origin_key: bytes | None, cursor: int, limit: int, max_bytes: int = MAX_BATCH_BYTES
    ) -> tuple[list[tuple[int, bytes]], int]:
        """Records after ``cursor`` to offer a peer, skipping those it sent us (no echo).

        At most ``limit`` records and ``max_bytes`` of request body (``BATCH_FRAMING`` counted
        for each record), but one record at least. Returns them with the seq the cursor
        may move to once they are delivered: past the last one, or past everything examined
        when the batch was not cut short.
        """
        top = list(await self.db.execute_fetchall("SELECT coalesce(max(seq), 0) FROM records"))
        upto = int(top[0][0])
        rows = list(
            await self.db.execute_fetchall(
                "SELECT seq, wire FROM records WHERE seq > ? AND seq <= ? AND wire IS NOT NULL"
                " AND (origin IS NULL OR origin != ?) ORDER BY seq LIMIT ?",
                (cursor, upto, key_column(origin_key) or "", limit),
            )
        )
        batch: list[tuple[int, bytes]] = []
        size = 0
        for seq, wire in rows:
            if batch and size + len(wire) + BATCH_FRAMING > max_bytes:
                break
            batch.append((seq, wire))
            size += len(wire) + BATCH_FRAMING
        if len(batch) < len(rows) or len(batch) == limit:
            upto = batch[-1][0]
        return batch, upto

    async def max_seq(self) -> int:
        rows = list(await self.db.execute_fetchall("SELECT coalesce(max(seq), 0) FROM records"))
        return int(rows[0][0])
