"""Storage faults answered as faults: a full disk, a locked database, I/O errors, damage.

* Below ``free_disk_floor`` bytes free on the database's file system, writes are refused
  (507 ``storage-full``) while reads keep working.
* SQLite's "database or disk is full" and ``ENOSPC`` answer 507; "database is locked" and I/O
  errors answer 503 with ``Retry-After``; each kind of fault is logged once per episode (an
  episode ends after ``EPISODE_GAP`` seconds without that fault), never with a traceback per
  request.
* A damaged database is refused: at start by ``node.ops.check.quick_check`` (``serve``), and
  while running on the first "malformed" error, after which nothing is written into it.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("rakuichi.faults")
EPISODE_GAP = 30.0  # seconds without a fault of one kind that end its episode
DISK_CHECK_EVERY = 1.0  # seconds a free-space reading is reused


class StorageFault(Exception):
    """A write cannot be done now (or ever, for a damaged database)."""

    def __init__(self, status: int, klass: str, detail: str, retry_after: int | None) -> None:
        super().__init__(detail)
        self.status, self.klass, self.detail, self.retry_after = status, klass, detail, retry_after


_ADVICE = "nothing more is written into it: see `rakuichi check`, then restore a backup"


@dataclass
class _Episode:
    started: float
    last: float
    count: int


class StorageGuard:
    """Decides whether writes may go ahead, and classifies and logs what the database raised."""

    def __init__(self, path: Path, free_disk_floor: int, monotonic: Callable[[], float]) -> None:
        self.path = path
        self.floor = free_disk_floor
        self.monotonic = monotonic
        self.damaged: str | None = None
        self._free: tuple[float, int] | None = None  # (when read, bytes free)
        self._episodes: dict[str, _Episode] = {}

    def free_bytes(self) -> int:
        now = self.monotonic()
        if self._free is None or now - self._free[0] > DISK_CHECK_EVERY:
            self._free = (now, shutil.disk_usage(self.path.parent).free)
        return self._free[1]

    def before_write(self) -> None:
        """Raise ``StorageFault`` when a write must not be attempted."""
        if self.damaged is not None:
            raise StorageFault(503, "storage-damaged", self.damaged, None)
        if self.floor and self.free_bytes() < self.floor:
            fault = StorageFault(
                507,
                "storage-full",
                f"less than {self.floor} bytes free for the database: writes are refused,"
                " reads still work",
                60,
            )
            self.note(fault)
            raise fault

    def classify(self, exc: BaseException) -> StorageFault | None:
        """The fault an exception from the database stands for, or None if it is not one."""
        if isinstance(exc, StorageFault):
            return exc
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return StorageFault(507, "storage-full", "no space left on the database's disk", 60)
        if not isinstance(exc, sqlite3.Error):
            return None
        text = str(exc).lower()
        if "full" in text:
            return StorageFault(507, "storage-full", f"the database is full: {exc}", 60)
        if "locked" in text or "busy" in text:
            return StorageFault(503, "storage-busy", f"the database is locked: {exc}", 5)
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            self.damaged = f"{self.path}: damaged database ({exc}); {_ADVICE}"
            return StorageFault(503, "storage-damaged", self.damaged, None)
        if "i/o" in text or "disk" in text or isinstance(exc, sqlite3.OperationalError):
            return StorageFault(503, "storage-error", f"the database failed: {exc}", 5)
        return None

    def note(self, fault: StorageFault) -> None:
        """Log ``fault`` once per episode."""
        now = self.monotonic()
        episode = self._episodes.get(fault.klass)
        if episode is not None and now - episode.last <= EPISODE_GAP:
            episode.last, episode.count = now, episode.count + 1
            return
        if episode is not None:
            log.info("%s: previous episode ended after %d failures", fault.klass, episode.count)
        self._episodes[fault.klass] = _Episode(now, now, 1)
        level = logging.CRITICAL if fault.klass == "storage-damaged" else logging.ERROR
        log.log(level, "%s: %s (logged once; more of the same are counted)", fault.klass, fault)
