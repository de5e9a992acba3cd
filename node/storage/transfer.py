"""Moving a whole store to another engine (``rakuichi store migrate``): rows out, rows in.

A row is everything the ``records`` table holds, tombstones included (``wire`` NULL, retracted
1), with its arrival ``seq`` kept, so peers' push cursors stay valid. Facts are derived again
from the wire bytes on the way in (a tombstone has none); the views are then kept by the target
engine's own triggers, and ``dump_views`` on both sides must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_COLUMNS = "seq, id, kind, author, created, subject, ref, slot, wire, retracted, received, origin"


@dataclass(frozen=True, slots=True)
class StoredRow:
    seq: int
    id: bytes
    kind: str
    author: bytes
    created: int
    subject: bytes | None
    ref: bytes | None
    slot: str | None
    wire: bytes | None
    retracted: int
    received: int
    origin: str | None

    def params(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.id,
            self.kind,
            self.author,
            self.created,
            self.subject,
            self.ref,
            self.slot,
            self.wire,
            self.retracted,
            self.received,
            self.origin,
        )


async def export_rows(db: Any, after_seq: int, limit: int) -> list[StoredRow]:
    """The next ``limit`` rows of ``records`` after ``after_seq``, in arrival order."""
    rows = await db.execute_fetchall(
        f"SELECT {_COLUMNS} FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
    )
    return [StoredRow(*row) for row in rows]


async def export_peers(db: Any) -> list[tuple[Any, ...]]:
    return list(
        await db.execute_fetchall(
            "SELECT url, source, node_key, org, cursor, last_success, last_error, error,"
            " failures, last_sync, added FROM peers"
        )
    )


async def export_drafts(db: Any) -> list[tuple[Any, ...]]:
    return list(await db.execute_fetchall("SELECT id, member, wire, created FROM drafts"))


async def count_rows(db: Any) -> int:
    rows = await db.execute_fetchall("SELECT count(*) FROM records")
    return int(rows[0][0])


async def record_keys(db: Any) -> list[tuple[bytes, int]]:
    """(id, retracted) of every row: what two stores must agree on."""
    rows = await db.execute_fetchall("SELECT id, retracted FROM records ORDER BY id")
    return [(row[0], int(row[1])) for row in rows]


BATCH = 2_000


async def copy_store(
    source: Any, target: Any, progress: Callable[[int, int], None] | None = None
) -> int:
    """Copy every row of ``source`` (a SQLite ``Store``) into the empty ``target`` (a
    ``PgStore``), then its peers and drafts; returns the rows copied."""
    total = await count_rows(source.reader)
    if await count_rows(target.reader):
        raise ValueError("the target database already holds records: give an empty one")
    copied, after = 0, 0
    while True:
        rows = await export_rows(source.reader, after, BATCH)
        if not rows:
            break
        await target.import_rows(rows)
        copied += len(rows)
        after = rows[-1].seq
        if progress is not None:
            progress(copied, total)
    await target.import_rows(
        [], await export_peers(source.reader), await export_drafts(source.reader)
    )
    return copied


async def differences(a: Any, b: Any, now_ms: int) -> list[str]:
    """How two stores differ in their record sets and derived views (empty: they agree)."""
    problems = []
    keys_a, keys_b = await record_keys(a.reader), await record_keys(b.reader)
    if keys_a != keys_b:
        only_a = len(set(keys_a) - set(keys_b))
        only_b = len(set(keys_b) - set(keys_a))
        problems.append(
            f"record sets differ: {only_a} only in the source, {only_b} only in the copy"
        )
    views_a, views_b = await a.dump_views(now_ms), await b.dump_views(now_ms)
    for name in type(views_a).__dataclass_fields__:
        if getattr(views_a, name) != getattr(views_b, name):
            problems.append(f"view {name} differs")
    return problems
