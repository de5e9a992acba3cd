"""A retracted record's facts go: one trigger per fact table, generated from the kind table.

The migrations' ``record_retracted`` trigger deletes by hand from the fact tables that existed
when it was written; a fact table the kind table adds later (``facttables``) would keep the
facts of retracted records. So each fact table of a retractable kind gets its own trigger,
``<table>_erased``, that deletes the row of a record of its kind when a retract erases it
(``rakuichi purge`` deletes the facts of every kind itself). Like the fact tables, the
triggers are brought up to the kind table at every open (``sqlite_sync`` / ``pg_sync``, after
the fact tables' own sync), so stores made before get them too; no migration is involved.

The hand-written deletes stay in ``record_retracted`` (a migration's text never changes); a
row deleted twice is deleted once. On SQLite the searched kind's trigger also takes the row
out of the full-text index while it is indexed (the current version), because SQLite does not
promise which of two triggers on the same update runs first: whichever runs first, the index
loses the row exactly once (``current_removed`` finds no facts left, or this trigger finds no
current version left).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import aiosqlite

from node.storage.facttables import SEARCH_TABLE, fact_kinds, searched
from protocol import kinds

SUFFIX = "_erased"


def trigger_name(spec: kinds.KindSpec) -> str:
    return spec.fact_table + SUFFIX


def sqlite_trigger(spec: kinds.KindSpec) -> str:
    """The SQLite trigger (as ``sqlite_master`` keeps its text: no final semicolon)."""
    table, unindex = spec.fact_table, ""
    if searched(spec):
        cols = ", ".join(f.name for f in searched(spec))
        picked = ", ".join(f"f.{f.name}" for f in searched(spec))
        unindex = f"""
  INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {cols})
    SELECT 'delete', f.rowid, {picked} FROM {table} f WHERE f.id = OLD.id AND EXISTS (
      SELECT 1 FROM current c WHERE c.kind = OLD.kind AND c.author = OLD.author
        AND c.slot = OLD.slot AND c.id = OLD.id);"""
    return f"""CREATE TRIGGER {trigger_name(spec)} AFTER UPDATE OF retracted ON records
WHEN NEW.retracted = 1 AND OLD.retracted = 0 AND OLD.kind = '{spec.name}' BEGIN{unindex}
  DELETE FROM {table} WHERE id = OLD.id;
END"""


def pg_function_body(spec: kinds.KindSpec) -> str:
    """The PostgreSQL trigger function's source (as ``pg_proc.prosrc`` keeps it)."""
    return f"""
BEGIN
  IF NEW.retracted = 1 AND OLD.retracted = 0 AND OLD.kind = '{spec.name}' THEN
    DELETE FROM {spec.fact_table} WHERE id = OLD.id;
  END IF;
  RETURN NULL;
END
"""


def pg_function(spec: kinds.KindSpec) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {trigger_name(spec)}() RETURNS trigger LANGUAGE plpgsql"
        f" AS $${pg_function_body(spec)}$$;"
    )


def pg_trigger(spec: kinds.KindSpec) -> str:
    name = trigger_name(spec)
    return (
        f"CREATE TRIGGER {name} AFTER UPDATE OF retracted ON records"
        f" FOR EACH ROW EXECUTE FUNCTION {name}();"
    )


def erased_kinds() -> list[kinds.KindSpec]:
    """The fact kinds a retract can erase (a kind that is not retractable needs no trigger)."""
    return [spec for spec in fact_kinds() if spec.retractable]


def _line(spec: kinds.KindSpec) -> str:
    return f"create trigger {trigger_name(spec)}: a retracted {spec.name}'s facts go"


def sqlite_missing(have: Mapping[str, str]) -> list[kinds.KindSpec]:
    """The fact kinds whose trigger is absent or not today's (``have``: trigger name -> the
    SQL ``sqlite_master`` keeps)."""
    return [spec for spec in erased_kinds() if have.get(trigger_name(spec)) != sqlite_trigger(spec)]


SQLITE_TRIGGERS = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"


def sqlite_plan(have: Mapping[str, str]) -> list[str]:
    """What opening a SQLite store whose triggers are ``have`` would change, one line each."""
    return [_line(spec) for spec in sqlite_missing(have)]


async def sqlite_sync(db: aiosqlite.Connection) -> list[str]:
    """Create or replace the triggers a SQLite store lacks, in one transaction."""
    have = {str(name): str(sql) for name, sql in await db.execute_fetchall(SQLITE_TRIGGERS)}
    missing = sqlite_missing(have)
    if not missing:
        return []
    await db.execute("BEGIN IMMEDIATE")
    try:
        for spec in missing:
            await db.execute(f"DROP TRIGGER IF EXISTS {trigger_name(spec)}")
            await db.execute(sqlite_trigger(spec))
        await db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            await db.execute("ROLLBACK")
        raise
    return [_line(spec) for spec in missing]


async def pg_sync(tx: Any) -> list[str]:
    """Create or replace the triggers a PostgreSQL store lacks (``tx``: the migration's
    transaction)."""
    bodies = {
        str(name): str(source)
        for name, source in await tx.execute_fetchall(
            "SELECT proname, prosrc FROM pg_proc"
            " WHERE pronamespace = current_schema()::regnamespace"
        )
    }
    triggers = {
        str(row[0])
        for row in await tx.execute_fetchall(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'records'::regclass AND NOT tgisinternal"
        )
    }
    changed = []
    for spec in erased_kinds():
        name = trigger_name(spec)
        if bodies.get(name) == pg_function_body(spec) and name in triggers:
            continue
        await tx.execute_script(pg_function(spec))
        if name not in triggers:
            await tx.execute_script(pg_trigger(spec))
        changed.append(_line(spec))
    return changed
