"""The SQLite settings a store's connections run with: durable commits (WAL, fsync on every
commit) and a write-ahead log long enough that a page rewritten by several batches reaches
the database once."""

from __future__ import annotations

from pathlib import Path

from node.storage.store import WAL_CHECKPOINT_PAGES, WAL_KEPT_BYTES, Store


async def test_connections_commit_durably_with_a_long_write_ahead_log(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "rakuichi.db")
    try:
        for db in (store.writer, store.reader):
            settings = {}
            for name in ("journal_mode", "synchronous", "wal_autocheckpoint", "journal_size_limit"):
                ((value,),) = await db.execute_fetchall(f"PRAGMA {name}")
                settings[name] = value
            assert settings == {
                "journal_mode": "wal",
                "synchronous": 2,  # FULL: the log is synced at every commit
                "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
                "journal_size_limit": WAL_KEPT_BYTES,
            }
        assert WAL_CHECKPOINT_PAGES > 1000  # SQLite's default
    finally:
        await store.close()
