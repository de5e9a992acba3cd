"""Schema versions without opening the store: what ``status`` shows and ``migrate --dry-run``
says. Reading never migrates: only ``Store.open`` (``run``, ``migrate``, writes) does, and it
copies the old database beside itself first."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from node.storage import facterasure
from node.storage.check import read_only_uri
from node.storage.facttables import describe, fact_kinds, fact_tables_of, sqlite_changes
from node.storage.schema import MIGRATIONS

_DDL = re.compile(
    r"^\s*((?:CREATE|DROP)\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)"
    r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s+[\w.]+|ALTER\s+TABLE\s+\w+\s+\w+(?:\s+COLUMN)?\s+\w+)",
    re.IGNORECASE | re.MULTILINE,
)


def latest_schema() -> int:
    return len(MIGRATIONS)


def schema_version(path: Path) -> int:
    """``PRAGMA user_version`` read through a read-only connection (0: no database yet)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(read_only_uri(path), uri=True, timeout=30)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def read_counts(path: Path) -> dict[str, int]:
    """Live records by kind, read-only (works on any schema version)."""
    if not path.exists():
        return {}
    db = sqlite3.connect(read_only_uri(path), uri=True, timeout=30)
    try:
        rows = db.execute(
            "SELECT kind, count(*) FROM records WHERE retracted = 0 GROUP BY kind"
        ).fetchall()
    finally:
        db.close()
    return {str(kind): int(n) for kind, n in rows}


def changes(script: str) -> list[str]:
    """The schema statements of a migration script, one short line each."""
    found = [" ".join(m.group(1).split()) for m in _DDL.finditer(script)]
    return found or ["data only (no schema statements)"]


def fact_plan(path: Path) -> list[str]:
    """What opening the store at ``path`` would change in its fact tables to follow the kind
    table (a fact added to a kind's entry) and their cleanup on retraction, one line each
    (empty: nothing)."""
    db = sqlite3.connect(read_only_uri(path), uri=True, timeout=30)
    try:
        tables = fact_tables_of(spec.fact_table for spec in fact_kinds())
        have = {t: [row[1] for row in db.execute(f"PRAGMA table_info({t})")] for t in tables}
        triggers = {str(name): str(sql) for name, sql in db.execute(facterasure.SQLITE_TRIGGERS)}
    finally:
        db.close()
    return describe(sqlite_changes(have)) + facterasure.sqlite_plan(triggers)


def plan(path: Path) -> list[str]:
    """What migrating the database at ``path`` would do, one line each (empty: nothing)."""
    current, target = schema_version(path), latest_schema()
    if current == target and (facts := fact_plan(path)):
        return ["fact tables follow the kind table:", *[f"  {line}" for line in facts]]
    if current == 0 or current >= target:
        return []
    lines = [f"schema v{current} -> v{target}"]
    for number in range(current + 1, target + 1):
        steps = changes(MIGRATIONS[number - 1])
        lines.append(f"  migration {number}: {len(steps)} change(s)")
        lines += [f"    {step}" for step in steps]
    lines.append(f"  the old database would first be copied to {path.name}.schema-v{current}-*.bak")
    return lines


async def read_postgresql_status(dsn: str) -> tuple[int, dict[str, int]]:
    """Schema version and live records by kind of a PostgreSQL store, read-only (never
    migrates: the version is 0 when the database has no schema yet)."""
    import asyncpg

    from node.storage.store import StoreError

    try:
        db = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreError(f"cannot open the PostgreSQL database: {exc}") from None
    try:
        async with db.transaction(readonly=True):
            if await db.fetchval("SELECT to_regclass('schema_version')") is None:
                return 0, {}
            version = await db.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            rows = await db.fetch(
                "SELECT kind, count(*) FROM records WHERE retracted = 0 GROUP BY kind"
            )
    finally:
        await db.close()
    return int(version), {str(r[0]): int(r[1]) for r in rows}
