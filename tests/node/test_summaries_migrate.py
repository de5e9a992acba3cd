"""The stored summaries' migration backfills a store written before it: its counters and
reputation summaries then equal ``derive`` of the records held, and stay so as records come."""

from __future__ import annotations

import asyncpg

from node.storage import pg_schema, schema, summaries
from node.storage.store import Store
from protocol.views import derive
from tests.node.test_store_views import LATE, NOWS, POOL, T0, _check_summaries
from tests.support.stores import Engine

DROPS = (
    "DROP TRIGGER IF EXISTS author_counted",
    "DROP TRIGGER IF EXISTS author_uncounted",
    "DROP TRIGGER IF EXISTS standing_attestation_added",
    "DROP TRIGGER IF EXISTS standing_attestation_removed",
    "DROP TRIGGER IF EXISTS standing_attestation_grounding",
    "DROP TABLE author_counts",
    "DROP TABLE reputation_standing",
    "DROP TABLE reputation_summary",
    "DROP INDEX attestations_issuer",
    "DROP INDEX attestations_state",
)
PG_DROPS = (
    "DROP TRIGGER author_counts ON records",
    "DROP TRIGGER reputation_standing ON attestations",
    "DROP TABLE author_counts, reputation_standing, reputation_summary",
    "DROP FUNCTION author_counts, reputation_standing, reputation_summary",
    "DROP INDEX attestations_issuer, attestations_state",
)


async def _as_before_summaries(engine: Engine, place: str) -> None:
    """Take the summaries' migration back out of a store that holds records."""
    if engine.name == "sqlite":
        import sqlite3

        db = sqlite3.connect(place, isolation_level=None)
        try:
            for statement in DROPS:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {schema.MIGRATIONS.index(summaries.SQLITE)}")
        finally:
            db.close()
        return
    conn = await asyncpg.connect(place)
    try:
        for statement in PG_DROPS:
            await conn.execute(statement)
        number = pg_schema.MIGRATIONS.index(summaries.POSTGRES) + 1
        await conn.execute("DELETE FROM schema_version WHERE version >= $1", number)
    finally:
        await conn.close()


async def test_migration_backfills_the_summaries(engine: Engine) -> None:
    first, rest = POOL[: len(POOL) // 2], POOL[len(POOL) // 2 :]
    place = await engine.fresh("summaries")
    store = await engine.open(place)
    try:
        await store.add(first, T0)
    finally:
        await store.close()
    await _as_before_summaries(engine, place)
    store = await engine.open(place)  # migrates: the summaries are built from the base rows
    try:
        for now in NOWS:
            await _check_summaries(store, first, derive(first, now), now)
        await store.add(rest, T0)
        await _check_summaries(store, POOL, derive(POOL, LATE), LATE)
    finally:
        await store.close()
    assert isinstance(store, Store)
