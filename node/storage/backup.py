"""``rakuichi backup`` and ``restore``: one archive holding a node's whole home.

The database is copied with SQLite's online backup API in one step, which reads one
consistent snapshot while the node keeps writing (WAL): every record acknowledged before the
backup began is in it. The archive also holds ``config.toml``, ``peers.toml`` and both keys,
byte for byte (encrypted keys stay encrypted), and a ``manifest.json`` with the SHA-256 of each
file, checked on restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from node import __version__
from node.config import (
    CONFIG_FILE,
    DATABASE_FILE,
    NODE_KEY_FILE,
    ORG_KEY_FILE,
    PEERS_FILE,
)

MANIFEST = "manifest.json"
HOME_FILES = (CONFIG_FILE, PEERS_FILE, ORG_KEY_FILE, NODE_KEY_FILE)
FORMAT = 1


class BackupError(Exception):
    """A backup cannot be taken or restored; the message says why, in one line."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    records: int
    schema: int
    files: tuple[str, ...]
    seconds: float


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def copy_database(source: Path, target: Path) -> tuple[int, int]:
    """Online copy of ``source`` to ``target``; (records, schema version) of the copy."""
    if not source.exists():
        raise BackupError(f"{source}: no database to back up")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"the copy of {source} fails its quick check: {verdict}")
            (schema,) = dst.execute("PRAGMA user_version").fetchone()
            (records,) = dst.execute("SELECT count(*) FROM records").fetchone()
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source}: cannot be backed up: {exc}") from None
    finally:
        src.close()
    return int(records), int(schema)


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def backup_home(home: Path, out: Path, database: Path | None = None) -> BackupReport:
    """Write ``out`` (a .tar.gz) with the database snapshot and the home's files."""
    started = time.monotonic()
    if not (home / CONFIG_FILE).exists():
        raise BackupError(f"{home}: not a node home (no {CONFIG_FILE})")
    if out.exists():
        raise BackupError(f"{out} exists; not overwriting a backup")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".rakuichi-backup-") as tmp:
        copy = Path(tmp) / DATABASE_FILE
        records, schema = copy_database(database or home / DATABASE_FILE, copy)
        sources = {name: home / name for name in HOME_FILES if (home / name).exists()}
        sources[DATABASE_FILE] = copy
        manifest = {
            "format": FORMAT,
            "software": f"rakuichi {__version__}",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "home": str(home.resolve()),
            "schema": schema,
            "records": records,
            "files": {name: _sha256_of(path) for name, path in sorted(sources.items())},
        }
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        partial = Path(tmp) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the keys
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive,
        ):
            archive.add(Path(tmp) / MANIFEST, MANIFEST, filter=_private)
            for name, path in sorted(sources.items()):
                archive.add(path, name, filter=_private)
        os.replace(partial, out)
    return BackupReport(out, records, schema, tuple(sorted(sources)), time.monotonic() - started)


def restore_home(archive_path: Path, home: Path) -> dict[str, Any]:
    """Recreate a home from a backup in ``home``, which must not exist or be empty; every file
    is checked against the manifest's SHA-256 before the home is usable."""
    if home.exists() and any(home.iterdir()):
        raise BackupError(f"{home} is not empty; restore into a new directory")
    home.mkdir(parents=True, exist_ok=True)
    try:
        manifest = _extract(archive_path, home)
    except BaseException:
        for name in (*HOME_FILES, DATABASE_FILE):
            (home / name).unlink(missing_ok=True)
        raise
    db = sqlite3.connect(home / DATABASE_FILE)
    try:
        (verdict,) = db.execute("PRAGMA quick_check").fetchone()
    finally:
        db.close()
    if verdict != "ok":
        raise BackupError(f"the restored database fails its quick check: {verdict}")
    return manifest


def _extract(archive_path: Path, home: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            members = {m.name: m for m in archive.getmembers()}
            if MANIFEST not in members:
                raise BackupError(f"{archive_path}: no {MANIFEST}: not a rakuichi backup")
            manifest = json.loads(_member(archive, members[MANIFEST]).read())
            listed: dict[str, str] = manifest.get("files", {})
            if DATABASE_FILE not in listed or CONFIG_FILE not in listed:
                raise BackupError(f"{archive_path}: the backup lacks the database or config.toml")
            for name, expected in listed.items():
                if name not in (*HOME_FILES, DATABASE_FILE) or name not in members:
                    raise BackupError(f"{archive_path}: unexpected or missing file {name!r}")
                target = home / name
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(_member(archive, members[name]), out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                if _sha256_of(target) != expected:
                    raise BackupError(f"{archive_path}: {name} is damaged (SHA-256 differs)")
                if name in (CONFIG_FILE, PEERS_FILE):
                    os.chmod(target, 0o644)
    except (OSError, EOFError, zlib.error, tarfile.TarError, ValueError) as exc:
        raise BackupError(f"{archive_path}: cannot read the backup: {exc}") from None
    return manifest


def _member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    if not member.isfile():
        raise BackupError(f"{member.name} in the backup is not a regular file")
    handle = archive.extractfile(member)
    assert handle is not None
    return handle
