"""The quick check at start is skipped only for a database as its last clean stop left it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from node.storage.cleanstop import check_at_start, marker_path, note_clean_stop


def _database(tmp_path: Path) -> Path:
    path = tmp_path / "rakuichi.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(400)])
    db.commit()
    db.close()
    return path


def _damage(path: Path, keep_time: bool) -> None:
    """Overwrite the last page, keeping the size (and, if asked, the modification time)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[-page + 8 : -8] = b"\xa5" * (page - 16)
    path.write_bytes(bytes(data))
    if keep_time:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_without_a_marker_the_check_runs_and_finds_damage(tmp_path: Path) -> None:
    path = _database(tmp_path)
    assert check_at_start(path) is None
    _damage(path, keep_time=False)
    assert check_at_start(path) is not None


def test_a_file_written_after_the_clean_stop_is_checked(tmp_path: Path) -> None:
    path = _database(tmp_path)
    note_clean_stop(path)
    _damage(path, keep_time=False)  # same size, new time: something wrote the file
    assert check_at_start(path) is not None
    assert not marker_path(path).exists()


def test_an_untouched_file_after_a_clean_stop_is_not_read_and_the_marker_is_used_once(
    tmp_path: Path,
) -> None:
    path = _database(tmp_path)
    note_clean_stop(path)
    assert marker_path(path).exists()
    # damage that keeps size and time is what the skip cannot see (rakuichi check does):
    # proof that the pages were not read
    _damage(path, keep_time=True)
    assert check_at_start(path) is None
    assert not marker_path(path).exists()  # removed at start: a crash after it is checked
    assert check_at_start(path) is not None


def test_wal_content_means_no_clean_stop(tmp_path: Path) -> None:
    path = _database(tmp_path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("INSERT INTO t VALUES ('y')")
    db.commit()
    note_clean_stop(path)  # the WAL still holds a transaction: no marker
    assert not marker_path(path).exists()
    db.close()
