"""The quick check at start, skipped after a clean stop of a database nobody touched since.

``PRAGMA quick_check`` reads every page: about 2 s for a 1.5 GB store (10^6 records), the
whole of a node's start-up at that size. A node that stopped cleanly (its store closed, the
WAL folded into the file) writes a marker beside the database with the file's size and
modification time; the next start removes the marker and skips the check only when the file
is exactly as it was left and has no WAL content. A crash (no marker), a restore, a copy or
anything else that wrote the file (a different size or time) brings the check back. What
this misses: damage that changes neither (bit rot on the disk) — ``rakuichi check`` is for
that, run from time to time (docs/operations.md).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from node.storage.check import quick_check

log = logging.getLogger("rakuichi.node")


def marker_path(database: Path) -> Path:
    return database.with_name(database.name + "-clean")  # ignored with rakuichi.db-* files


def _stat(database: Path) -> dict[str, int] | None:
    """The file's size and time, or None when it has WAL content or does not exist."""
    wal = database.with_name(database.name + "-wal")
    if not database.exists() or (wal.exists() and wal.stat().st_size > 0):
        return None
    st = database.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def note_clean_stop(database: Path) -> None:
    """Called once the store is closed after a clean stop."""
    found = _stat(database)
    if found is not None:
        marker_path(database).write_text(json.dumps(found), encoding="utf-8")


def check_at_start(database: Path) -> str | None:
    """None when the database may be used, else why not (``quick_check``'s answer). Always
    removes the marker first, so that a crash from here on brings the check back."""
    marker = marker_path(database)
    left: object = None
    if marker.exists():
        try:
            left = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            left = None
        marker.unlink(missing_ok=True)
    if left is not None and left == _stat(database):
        log.debug("quick check skipped: %s is as its last clean stop left it", database)
        return None
    started = time.monotonic()
    damage = quick_check(database)
    log.info("quick check of %s: %.1f s", database, time.monotonic() - started)
    return damage
