"""``rakuichi check`` and the quick check at start: is the database whole and true?

Three passes, each problem one line: SQLite's ``integrity_check``; every stored record parsed
and its signatures verified again, its id and columns compared with its bytes; the derived
views the triggers keep compared with ``protocol.derive`` over the live records. The database
is opened read-only: a check never changes it (nor migrates it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from node.storage.viewdump import dump_views
from protocol import Record, Rejected, check_signer_set, derive, parse, verify_each

MAX_LINES_PER_PASS = 50
CHUNK = 2000
# the views that depend only on live records (tombstones and pending references need the
# erased records' bytes, which a store no longer has)
COMPARED_VIEWS = (
    "org_profiles",
    "member_profiles",
    "opportunities",
    "alliances",
    "alumni",
    "attestations",
    "replies",
)


def read_only_uri(path: Path) -> str:
    return f"file:{path.resolve()}?mode=ro"


def quick_check(path: Path) -> str | None:
    """None when ``path`` passes ``PRAGMA quick_check`` (or does not exist yet), else why not."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(read_only_uri(path), uri=True, timeout=30)
        try:
            rows = db.execute("PRAGMA quick_check(3)").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    verdicts = [str(r[0]) for r in rows]
    return None if verdicts == ["ok"] else "; ".join(verdicts)


async def check_database(path: Path, now_ms: int) -> list[str]:
    """Every problem found in the database at ``path``, one line each (empty: healthy)."""
    if not path.exists():
        return [f"{path}: no database"]
    problems: list[str] = []
    db = await aiosqlite.connect(read_only_uri(path), uri=True)
    try:
        problems += await _integrity(db)
        records, record_problems = await _records(db)
        problems += record_problems
        if not record_problems:
            problems += await _views(db, records, now_ms)
    except (sqlite3.DatabaseError, aiosqlite.Error) as exc:
        problems.append(f"database damaged: {exc}")
    finally:
        await db.close()
    return problems


async def check_postgresql(dsn: str, now_ms: int) -> list[str]:
    """The same check of a node's PostgreSQL database: every record re-validated, the views
    compared with ``protocol.derive`` (the pages themselves are PostgreSQL's to check: amcheck).
    Read-only, in one REPEATABLE READ transaction, so a node may keep running meanwhile."""
    from node.storage.pg_connection import connect

    problems: list[str] = []
    try:
        pool = await connect(dsn, max_size=1)
    except Exception as exc:
        return [f"cannot open the PostgreSQL database: {exc}"]
    try:
        async with pool.snapshot() as db:  # the same queries: PgConnection translates them
            records, record_problems = await _records(db)  # type: ignore[arg-type]
            problems += record_problems
            if not record_problems:
                problems += await _views(db, records, now_ms)  # type: ignore[arg-type]
    except Exception as exc:
        problems.append(f"database unreadable: {exc}")
    finally:
        await pool.close()
    return problems


async def _integrity(db: aiosqlite.Connection) -> list[str]:
    rows = await db.execute_fetchall(f"PRAGMA integrity_check({MAX_LINES_PER_PASS})")
    verdicts = [str(r[0]) for r in rows]
    return [] if verdicts == ["ok"] else [f"integrity: {v}" for v in verdicts]


def _record_problem(row: tuple[bytes, str, bytes, int, bytes]) -> tuple[Record | None, str | None]:
    rid, kind, author, created, wire = row
    where = f"record {rid.hex()}"
    try:
        record = parse(wire)
        check_signer_set(record)
        verify_each(record.signing_input, record.sigs)
    except Rejected as exc:
        return None, f"{where}: its bytes are refused ({exc.klass}: {exc.detail})"
    if record.id != rid:
        return None, f"{where}: its bytes hash to {record.id.hex()}, not to the id stored"
    if (record.kind, record.author, record.created) != (kind, author, created):
        return None, f"{where}: kind, author or created columns disagree with its bytes"
    return record, None


async def _records(db: aiosqlite.Connection) -> tuple[list[Record], list[str]]:
    records: list[Record] = []
    problems: list[str] = []
    after = 0
    while True:
        rows = list(
            await db.execute_fetchall(
                "SELECT seq, id, kind, author, created, wire FROM records"
                " WHERE seq > ? AND wire IS NOT NULL ORDER BY seq LIMIT ?",
                (after, CHUNK),
            )
        )
        for seq, *fields in rows:
            record, problem = _record_problem(tuple(fields))  # type: ignore[arg-type]
            if record is not None:
                records.append(record)
            elif len(problems) < MAX_LINES_PER_PASS:
                problems.append(str(problem))
            after = seq
        if len(rows) < CHUNK:
            return records, problems


async def _views(db: aiosqlite.Connection, records: list[Record], now_ms: int) -> list[str]:
    try:
        stored = await dump_views(db, now_ms)
    except ValueError as exc:
        return [f"views: {exc}"]
    derived = derive(records, now_ms)
    problems = []
    for name in COMPARED_VIEWS:
        held, expected = getattr(stored, name), getattr(derived, name)
        if held != expected:
            keys = set(held) ^ set(expected) | {k for k in held if held.get(k) != expected.get(k)}
            problems.append(
                f"view {name}: {len(keys)} entr{'y' if len(keys) == 1 else 'ies'} differ"
                " from the records (rebuild by restoring a backup or re-syncing)"
            )
    return problems
