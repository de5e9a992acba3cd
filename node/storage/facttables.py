"""Fact tables generated from the kind table: each known kind's ``facts`` (``protocol.kinds``)
give its table's columns on both engines, the row written beside each record, and the
columns of the full-text index.

A store's migrations (schema.py, pg_schema.py) created today's fact tables by hand; what this
module generates for today's kinds is the same tables (``tests/node/test_fact_tables.py``
compares them column by column on both engines). At every open the store brings its fact
tables up to the kind table (``sqlite_sync`` / ``pg_sync``): a kind's missing table is
created, a fact missing from its table is added as a column and filled from the bodies of the
records held, and the full-text index is rebuilt when its searched facts changed. So adding
a fact to a kind's entry is the only change storage needs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import aiosqlite

from protocol import Record, kinds, parse

SQLITE_TYPES = {"text": "TEXT", "integer": "INTEGER", "bigint": "INTEGER"}
PG_TYPES = {"text": "TEXT", "integer": "INTEGER", "bigint": "BIGINT"}
SEARCHED_KIND = kinds.OPPORTUNITY  # the one kind with a full-text index (current versions only)
SEARCH_TABLE = "opportunity_search"
FTS_OPTIONS = "tokenize='unicode61 remove_diacritics 2'"


def fact_kinds() -> list[kinds.KindSpec]:
    """The kinds that keep facts, in the kind table's order."""
    return [spec for spec in kinds.KINDS.values() if spec.facts]


def searched(spec: kinds.KindSpec) -> list[kinds.Fact]:
    found = [f for f in spec.facts if f.searched]
    if found and spec.name != SEARCHED_KIND:
        raise ValueError(f"{spec.name}: only {SEARCHED_KIND} facts are full-text searched")
    return found


# ----- the rows written beside a record


def facts_of(record: Record) -> tuple[str, tuple[Any, ...]] | None:
    """The fact table of a record's kind and the row to insert there (None: no facts)."""
    spec = kinds.KINDS.get(record.kind)
    if spec is None or not spec.facts:
        return None
    made = _ROW_MAKERS.get(spec.name)
    if made is None or made[0] is not spec:  # first use, or the kind table changed
        made = _ROW_MAKERS[spec.name] = (spec, _row_maker(spec))
    return spec.fact_table, made[1](record.id, record.body)


RowMaker = Callable[[bytes, dict[str, Any]], tuple[Any, ...]]
_ROW_MAKERS: dict[str, tuple[kinds.KindSpec, RowMaker]] = {}


def _row_maker(spec: kinds.KindSpec) -> RowMaker:
    """``Fact.value`` of every fact of ``spec`` as one function of (id, body): the same values,
    computed inline (this runs for every record stored, ~1.5 µs instead of ~6)."""
    names: dict[str, Any] = {}
    parts = ["id_"]
    for i, fact in enumerate(spec.facts):
        if fact.take is not None:
            names[f"take{i}"] = fact.take
            got = f"take{i}(body)"
        else:
            names[f"default{i}"] = fact.default
            got = f"body.get({fact.name!r}, default{i})"
        parts.append(f"(int(v) if (v := {got}).__class__ is bool else v)")
    source = f"def row(id_, body):\n    return ({', '.join(parts)},)\n"
    exec(source, names)  # the source is built above from the facts alone
    maker: RowMaker = names["row"]
    return maker


def insert_statement(spec: kinds.KindSpec) -> str:
    names = ", ".join(["id", *(f.name for f in spec.facts)])
    marks = ", ".join("?" * (len(spec.facts) + 1))
    return f"INSERT OR IGNORE INTO {spec.fact_table} ({names}) VALUES ({marks})"


class FactInserts(Mapping[str, str]):
    """Fact table name -> its INSERT statement, from the kind table as it is now."""

    def _by_table(self) -> dict[str, kinds.KindSpec]:
        return {spec.fact_table: spec for spec in fact_kinds()}

    def __getitem__(self, table: str) -> str:
        return insert_statement(self._by_table()[table])

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_table())

    def __len__(self) -> int:
        return len(self._by_table())


# ----- DDL


def _column(fact: kinds.Fact, types: dict[str, str]) -> str:
    column = f"{fact.name} {types[fact.type]}"
    if fact.required:
        column += " NOT NULL"
    if fact.column_default is not None:
        column += f" DEFAULT {fact.column_default}"
    return column


def sqlite_table_ddl(spec: kinds.KindSpec) -> str:
    """CREATE TABLE of a kind's facts (a searched one keeps a rowid for its FTS index)."""
    columns = [_column(f, SQLITE_TYPES) for f in spec.facts]
    if searched(spec):
        head = "rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE"
        return f"CREATE TABLE {spec.fact_table} ({', '.join([head, *columns])});"
    head = "id BLOB PRIMARY KEY"
    return f"CREATE TABLE {spec.fact_table} ({', '.join([head, *columns])}) WITHOUT ROWID;"


def sqlite_search_ddl(spec: kinds.KindSpec) -> str:
    """The FTS5 index over the searched facts of current versions, and its two triggers."""
    names = [f.name for f in searched(spec)]
    cols, new = ", ".join(names), ", ".join(f"f.{n}" for n in names)
    return f"""
CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(
  {cols}, content='{spec.fact_table}', content_rowid='rowid', {FTS_OPTIONS}
);
CREATE TRIGGER current_added AFTER INSERT ON current WHEN NEW.kind = '{spec.name}' BEGIN
  INSERT INTO {SEARCH_TABLE} (rowid, {cols})
    SELECT f.rowid, {new} FROM {spec.fact_table} f WHERE f.id = NEW.id;
END;
CREATE TRIGGER current_removed AFTER DELETE ON current WHEN OLD.kind = '{spec.name}' BEGIN
  INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, {cols})
    SELECT 'delete', f.rowid, {new} FROM {spec.fact_table} f WHERE f.id = OLD.id;
END;
"""


def pg_search_expression(spec: kinds.KindSpec) -> str:
    parts = [f.name if f.required else f"coalesce({f.name}, '')" for f in searched(spec)]
    joined = " || ' ' || ".join(parts)
    return f"to_tsvector('simple', {joined})"


def pg_table_ddl(spec: kinds.KindSpec) -> str:
    """CREATE TABLE of a kind's facts (a searched one with its tsvector and GIN index)."""
    columns = ["id BYTEA PRIMARY KEY", *(_column(f, PG_TYPES) for f in spec.facts)]
    if not searched(spec):
        return f"CREATE TABLE {spec.fact_table} ({', '.join(columns)});"
    columns.append(f"search TSVECTOR GENERATED ALWAYS AS ({pg_search_expression(spec)}) STORED")
    return (
        f"CREATE TABLE {spec.fact_table} ({', '.join(columns)});\n"
        f"CREATE INDEX {SEARCH_TABLE} ON {spec.fact_table} USING GIN (search);"
    )


# ----- bringing a store's fact tables up to the kind table


class Sql(Protocol):
    """What the sync needs of a connection (aiosqlite's, or ``PgConnection``)."""

    async def execute_fetchall(self, sql: str, params: Any = ..., /) -> Iterable[Any]: ...

    async def executemany(self, sql: str, rows: Any, /) -> Any: ...


def _added_column(fact: kinds.Fact, types: dict[str, str]) -> str:
    """A column added to a table with rows: NOT NULL only with a SQL default."""
    if fact.required and fact.column_default is None:
        return f"{fact.name} {types[fact.type]}"
    return _column(fact, types)


async def _fill(db: Sql, spec: kinds.KindSpec, added: list[kinds.Fact] | None) -> None:
    """Fill a kind's new fact table (``added`` None) or its ``added`` columns from the bodies
    of the records of that kind held."""
    wires = await db.execute_fetchall(
        "SELECT wire FROM records WHERE kind = ? AND wire IS NOT NULL", (spec.name,)
    )
    records = [parse(bytes(row[0])) for row in wires]
    if added is None:
        rows = [(r.id, *[f.value(r.body) for f in spec.facts]) for r in records]
        await db.executemany(insert_statement(spec), rows)
        return
    sets = ", ".join(f"{f.name} = ?" for f in added)
    await db.executemany(
        f"UPDATE {spec.fact_table} SET {sets} WHERE id = ?",
        [(*[f.value(r.body) for f in added], r.id) for r in records],
    )


Change = tuple[str, kinds.KindSpec, list[kinds.Fact] | None]  # what, kind, facts added


def sqlite_changes(columns: Mapping[str, list[str]]) -> list[Change]:
    """What a SQLite store whose tables have ``columns`` (table -> column names; the fact
    tables and the full-text index) lacks to follow the kind table."""
    work: list[Change] = []
    for spec in fact_kinds():
        have = set(columns.get(spec.fact_table, ()))
        if not have:
            work.append(("table", spec, None))
            continue
        added = [f for f in spec.facts if f.name not in have]
        if added:
            work.append(("columns", spec, added))
        if searched(spec) and list(columns.get(SEARCH_TABLE, ())) != [
            f.name for f in searched(spec)
        ]:
            work.append(("search", spec, None))
    return work


def describe(work: list[Change]) -> list[str]:
    """One line for each change, as ``rakuichi migrate --dry-run`` shows them."""
    lines = []
    for what, spec, added in work:
        if what == "table":
            names = ", ".join(f.name for f in spec.facts)
            lines.append(f"create {spec.fact_table} ({names}), filled from held records")
        elif what == "columns" and added:
            names = ", ".join(f.name for f in added)
            lines.append(f"add to {spec.fact_table}: {names}, filled from held records")
        else:
            names = ", ".join(f.name for f in searched(spec))
            lines.append(f"rebuild the full-text index {SEARCH_TABLE} over {names}")
    return lines


def fact_tables_of(kinds_tables: Iterable[str]) -> list[str]:
    """The tables whose columns ``sqlite_changes`` needs."""
    return [*kinds_tables, SEARCH_TABLE]


async def sqlite_sync(db: aiosqlite.Connection) -> list[str]:
    """Bring the SQLite fact tables up to the kind table, in one transaction when anything is
    to change; returns what changed (nothing, on a store of today's kinds)."""
    have = {}
    for table in fact_tables_of(spec.fact_table for spec in fact_kinds()):
        info = await db.execute_fetchall(f"PRAGMA table_info({table})")
        have[table] = [row[1] for row in info]
    work = sqlite_changes(have)
    if not work:
        return []
    await db.execute("BEGIN IMMEDIATE")
    try:
        for what, spec, columns in work:
            if what == "table":
                await db.execute(sqlite_table_ddl(spec).rstrip(";"))
                await _fill(db, spec, None)
            elif what == "columns" and columns:
                for fact in columns:
                    column = _added_column(fact, SQLITE_TYPES)
                    await db.execute(f"ALTER TABLE {spec.fact_table} ADD COLUMN {column}")
                await _fill(db, spec, columns)
        for what, spec, _ in work:
            if what == "search" or (what == "table" and searched(spec)):
                await _sqlite_rebuild_search(db, spec)
        await db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            await db.execute("ROLLBACK")
        raise
    return describe(work)


async def _sqlite_rebuild_search(db: aiosqlite.Connection, spec: kinds.KindSpec) -> None:
    """A full-text index over other columns: dropped, made again, filled from current."""
    for statement in (
        "DROP TRIGGER IF EXISTS current_added",
        "DROP TRIGGER IF EXISTS current_removed",
        f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
    ):
        await db.execute(statement)
    for statement in _statements(sqlite_search_ddl(spec)):
        await db.execute(statement)
    cols = ", ".join(f.name for f in searched(spec))
    picked = ", ".join(f"f.{f.name}" for f in searched(spec))
    await db.execute(
        f"INSERT INTO {SEARCH_TABLE} (rowid, {cols}) SELECT f.rowid, {picked}"
        f" FROM {spec.fact_table} f JOIN current c ON c.id = f.id WHERE c.kind = ?",
        (spec.name,),
    )


def _statements(script: str) -> list[str]:
    """The statements of a DDL script (a trigger's body kept whole)."""
    out, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if line.rstrip().endswith(";") and (
            not current.lstrip().upper().startswith("CREATE TRIGGER") or line.strip() == "END;"
        ):
            out.append(current.strip().rstrip(";"))
            current = ""
    return out


async def pg_sync(tx: Any) -> list[str]:
    """Bring the PostgreSQL fact tables up to the kind table (``tx``: the migration's
    transaction); returns what changed."""
    changed: list[Change] = []
    for spec in fact_kinds():
        rows = await tx.execute_fetchall(
            "SELECT column_name, coalesce(generation_expression, '') FROM"
            " information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ?",
            (spec.fact_table,),
        )
        have = {str(name): str(expression) for name, expression in rows}
        if not have:
            await tx.execute_script(pg_table_ddl(spec))
            await _fill(tx, spec, None)
            changed.append(("table", spec, None))
            continue
        added = [f for f in spec.facts if f.name not in have]
        for fact in added:
            column = _added_column(fact, PG_TYPES)
            await tx.execute(f"ALTER TABLE {spec.fact_table} ADD COLUMN {column}")
        if added:
            await _fill(tx, spec, added)
            changed.append(("columns", spec, added))
        words = set(_WORD.findall(have.get("search", "")))
        if searched(spec) and not {f.name for f in searched(spec)} <= words:
            await tx.execute_script(
                f"DROP INDEX IF EXISTS {SEARCH_TABLE};\n"
                f"ALTER TABLE {spec.fact_table} DROP COLUMN IF EXISTS search;\n"
                f"ALTER TABLE {spec.fact_table} ADD COLUMN search TSVECTOR GENERATED ALWAYS AS"
                f" ({pg_search_expression(spec)}) STORED;\n"
                f"CREATE INDEX {SEARCH_TABLE} ON {spec.fact_table} USING GIN (search);"
            )
            changed.append(("search", spec, None))
    return describe(changed)


_WORD = re.compile(r"[a-z_][a-z0-9_]*")
