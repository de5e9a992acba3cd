"""Fact tables come from the kind table (``KindSpec.facts``), on both engines.

What is generated for today's kinds is exactly what the migrations built by hand (so existing
stores need no migration), and a fact added to a kind's entry is, with no other change, a
column of its fact table, filled from the bodies of records held before and written with every
record after (searched facts in the full-text index too).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from node.storage import facttables, pg_schema, schema
from node.storage.migration import plan
from node.storage.queries import OpportunityFilter
from node.storage.store import Store
from protocol import kinds
from tests.support import Cast, now_ms, opportunity, reply, retract
from tests.support.stores import Engine

Shape = dict[str, Any]


async def _sqlite_shape(db: Any, tables: list[str]) -> Shape:
    shape: Shape = {}
    for table in [*tables, facttables.SEARCH_TABLE]:
        columns = [tuple(r) for r in await db.execute_fetchall(f"PRAGMA table_info({table})")]
        sql = await db.execute_fetchall("SELECT sql FROM sqlite_master WHERE name = ?", (table,))
        without_rowid = "WITHOUT ROWID" in (sql[0][0] if sql else "")
        shape[table] = (columns, without_rowid)
    return shape


async def _pg_shape(db: Any, tables: list[str]) -> Shape:
    """Columns and indexes of ``tables`` in the connection's current schema."""
    shape: Shape = {}
    for table in tables:
        columns = await db.execute_fetchall(
            "SELECT column_name, data_type, is_nullable, column_default,"
            " coalesce(generation_expression, '') FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        indexes = await db.execute_fetchall(
            "SELECT indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = ? ORDER BY indexname",
            (table,),
        )
        shape[table] = ([tuple(c) for c in columns], [tuple(i) for i in indexes])
    return shape


async def test_generated_fact_tables_are_those_the_migrations_made(engine: Engine) -> None:
    """Three schemas: one made by the migrations alone (as every existing store was), one
    opened by the store (migrations, then the fact tables brought up to the kind table), and
    one made by the generated DDL only. Their fact tables and full-text index are the same."""
    specs = facttables.fact_kinds()
    tables = [spec.fact_table for spec in specs]
    assert tables == ["opportunity_facts", "alliance_facts", "end_facts", "attestation_facts"]
    opened = await engine.open(await engine.fresh("opened"))
    try:
        if engine.name == "sqlite":
            by_store = await _sqlite_shape(opened.writer, tables)
        else:  # the two others in schemas of the same database (cheaper than two databases)
            by_store = await _pg_shape(opened.writer, tables)
            async with opened.writer.transaction() as tx:  # type: ignore[attr-defined]
                await tx.execute("CREATE SCHEMA migrated")
                await tx.execute("SET LOCAL search_path TO migrated")
                for script in pg_schema.MIGRATIONS:
                    await tx.execute_script(script)
                by_migrations = await _pg_shape(tx, tables)
                await tx.execute("CREATE SCHEMA generated")
                await tx.execute("SET LOCAL search_path TO generated")
                for spec in specs:
                    await tx.execute_script(facttables.pg_table_ddl(spec))
                by_generation = await _pg_shape(tx, tables)
    finally:
        await opened.close()
    if engine.name == "sqlite":
        migrated = sqlite3.connect(":memory:")
        for script in schema.MIGRATIONS:
            migrated.executescript(script)
        generated = sqlite3.connect(":memory:")
        for spec in specs:
            generated.execute(facttables.sqlite_table_ddl(spec).rstrip(";"))
        generated.execute("CREATE TABLE current (kind TEXT, id BLOB)")  # the triggers' table
        generated.executescript(facttables.sqlite_search_ddl(kinds.KINDS[kinds.OPPORTUNITY]))
        by_migrations = await _sqlite_shape(_Sync(migrated), tables)
        by_generation = await _sqlite_shape(_Sync(generated), tables)
    assert all(by_migrations[t][0] for t in tables)  # the tables were read
    assert by_generation == by_migrations
    assert by_store == by_migrations  # opening a store of today's kinds changed nothing


class _Sync:
    """sqlite3's connection, asked as the store's connections are."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def execute_fetchall(self, sql: str, params: Any = ()) -> Any:
        return self.db.execute(sql, params).fetchall()


def _with_fact(monkeypatch: pytest.MonkeyPatch, kind: str, fact: kinds.Fact) -> None:
    """The kind table with one more fact for ``kind``: the only change made."""
    spec = kinds.KINDS[kind]
    monkeypatch.setitem(kinds.KINDS, kind, dataclasses.replace(spec, facts=(*spec.facts, fact)))


async def _column(store: Store, table: str, column: str) -> dict[bytes, Any]:
    rows = await store.writer.execute_fetchall(f"SELECT id, {column} FROM {table}")
    return {bytes(row[0]): row[1] for row in rows}


async def test_a_fact_added_to_a_kind_is_a_column_filled_from_the_body(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = await engine.fresh("evolving")
    cast, t = Cast.fresh(), now_ms() - 60_000
    before = opportunity(cast.org, t, slug="before", compensation="yen paid weekly")
    target = opportunity(cast.org, t + 1, slug="target")
    answered = reply(cast.org, target, t + 2, text="held before")
    store = await engine.open(place)
    try:
        await store.add([before, target, answered], t)
    finally:
        await store.close()

    # one change: the kind table's entries gain a fact (a searched one, and a first fact)
    _with_fact(
        monkeypatch,
        kinds.OPPORTUNITY,
        kinds.Fact("compensation", "text", default="", searched=True),
    )
    _with_fact(monkeypatch, kinds.REPLY, kinds.Fact("text", "text"))
    after = opportunity(cast.org, t + 3, slug="after", compensation="stipend in kind")
    store = await engine.open(place)
    try:
        await store.add([after, reply(cast.member, target, t + 4, text="written after")], t)
        paid = await _column(store, "opportunity_facts", "compensation")
        assert paid == {
            before.id: "yen paid weekly",  # filled at open from the held body
            target.id: "",  # the fact's default: the body lacks it
            after.id: "stipend in kind",  # written with the record
        }
        replies = set((await _column(store, "reply_facts", "text")).values())
        assert replies == {"held before", "written after"}  # a new table, filled and written
        found = await store.list_opportunities(OpportunityFilter(q="stipend"), None, 10)
        assert [row.id for row in found] == [after.id]  # searched: in the full-text index
        found = await store.list_opportunities(OpportunityFilter(q="weekly"), None, 10)
        assert [row.id for row in found] == [before.id]

        # retracted: the fact rows go, from the new table too (its trigger was made at open)
        await store.add([retract(cast.org, answered, t + 5), retract(cast.org, before, t + 6)], t)
        replies = set((await _column(store, "reply_facts", "text")).values())
        assert replies == {"written after"}
        paid = await _column(store, "opportunity_facts", "compensation")
        assert set(paid) == {target.id, after.id}
        found = await store.list_opportunities(OpportunityFilter(q="weekly"), None, 10)
        assert found == []
        if engine.name == "sqlite":  # nor is it left in the full-text index itself
            left = await store.writer.execute_fetchall(
                "SELECT rowid FROM opportunity_search WHERE opportunity_search MATCH 'weekly'"
            )
            assert list(left) == []
    finally:
        await store.close()


def test_only_the_searched_kind_has_searched_facts() -> None:
    spec = dataclasses.replace(
        kinds.KINDS[kinds.REPLY], facts=(kinds.Fact("text", "text", searched=True),)
    )
    with pytest.raises(ValueError, match="full-text"):
        facttables.sqlite_table_ddl(spec)


async def test_migrate_dry_run_says_what_a_new_fact_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "held.db"
    await (await Store.open(path)).close()
    assert plan(path) == []  # today's kinds: nothing to do
    _with_fact(monkeypatch, kinds.OPPORTUNITY, kinds.Fact("weeks", "integer", required=False))
    _with_fact(monkeypatch, kinds.REPLY, kinds.Fact("text", "text"))
    assert plan(path) == [
        "fact tables follow the kind table:",
        "  add to opportunity_facts: weeks, filled from held records",
        "  create reply_facts (text), filled from held records",
        "  create trigger reply_facts_erased: a retracted reply's facts go",
    ]
    await (await Store.open(path)).close()
    assert plan(path) == []
