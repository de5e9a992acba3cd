"""Leader election among a node's worker processes: a PostgreSQL advisory lock, held on a
connection of its own (the lock goes with the connection when its holder dies)."""

from __future__ import annotations

import contextlib

import asyncpg


class LeaderLockError(OSError):
    """The database could not be reached to take or keep the lock."""


class LeaderLock:
    def __init__(self, dsn: str, key: int) -> None:
        self.dsn = dsn
        self.key = key
        self._conn: asyncpg.Connection | None = None

    @property
    def connected(self) -> bool:
        """False once the lock's connection is gone (and with it any lock it held)."""
        return self._conn is not None and not self._conn.is_closed()

    async def try_take(self) -> bool:
        """Take the lock if it is free (connecting first when needed); True when taken."""
        try:
            if not self.connected:
                self._conn = await asyncpg.connect(self.dsn)
            assert self._conn is not None
            return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key))
        except (OSError, asyncpg.PostgresError) as exc:
            await self.release()
            raise LeaderLockError(str(exc)) from exc

    async def release(self) -> None:
        """Close the connection: the lock, if held, is free for another process."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
