"""Key events become known kinds (revision 3 proposal): the migration on a store written before
it, on both engines, and the node refusing a bad key event at ingest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import asyncpg

from crypto import SigningKey
from node.storage import pg_schema, schema
from node.storage.facts import record_row
from node.storage.store import _INSERT_RECORD
from node.storage.viewdump import dump_views
from protocol.keyevents import consent_message, inception, next_digest, rotation
from protocol.kinds import KEY_ROTATION
from protocol.record import Record
from protocol.views import derive
from tests.support import Cast, make_home, opportunity, retract, running_node
from tests.support.keyvectors import signed_unchecked
from tests.support.stores import Engine

T0 = 1_760_000_000_000
FIRST, S0, R1, S1, R2 = (SigningKey.from_seed(bytes([0x60 + n]) * 32) for n in range(5))
ICP = inception(FIRST, S0, R1.public_key, T0)
ROT1 = rotation(R1, S1, FIRST.public_key.raw, 1, ICP.id, R2.public_key, T0 + 10)
ROT1_RETRACT = retract(R1, ROT1, T0 + 20)  # erased ROT1 while key events were unknown kinds
BAD_NEXT = signed_unchecked(  # commits to its own signing key: refused now
    R1,
    KEY_ROTATION,
    T0 + 11,
    {
        "identity": FIRST.public_key.raw,
        "seq": 1,
        "prior": ICP.id,
        "key": S1.public_key.raw,
        "key_sig": S1.sign(consent_message(FIRST.public_key.raw, 1)),
        "next": next_digest(S1.public_key.raw),
    },
)
CAST = Cast.seeded("key-migration")
OPP = opportunity(CAST.org, T0 + 1)
OLD = [ICP, ROT1, BAD_NEXT, OPP, ROT1_RETRACT]


def _rows(records: list[Record]) -> list[tuple[object, ...]]:
    return [record_row(r).params(T0, None) for r in records]


async def _old_store(engine: Engine) -> str:
    """A store at the schema version before key events were known kinds, holding OLD."""
    place = await engine.fresh("old")
    if engine.name == "sqlite":
        db = sqlite3.connect(place)
        for number, script in enumerate(schema.MIGRATIONS[: schema.KEY_EVENTS_KNOWN - 1], 1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        db.executemany(_INSERT_RECORD, _rows(OLD))
        db.commit()
        db.close()
        return place
    conn = await asyncpg.connect(place)
    try:
        await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, script in enumerate(pg_schema.MIGRATIONS[: pg_schema.KEY_EVENTS_KNOWN - 1], 1):
            await conn.execute(script)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
        placeholders = ", ".join(f"${n}" for n in range(1, 11))
        insert = _INSERT_RECORD.replace("INSERT OR IGNORE", "INSERT").split("VALUES")[0]
        insert += f"VALUES ({placeholders})"
        await conn.executemany(insert, _rows(OLD))
    finally:
        await conn.close()
    return place


async def test_migration_keeps_key_events_and_drops_what_is_now_refused(engine: Engine) -> None:
    place = await _old_store(engine)
    store = await engine.open(place)  # migrates
    try:
        assert (await store.get_record(ICP.id)) is not None
        assert (await store.get_record(OPP.id)) is not None
        assert (await store.get_record(BAD_NEXT.id)) is None  # malformed: removed
        assert (await store.get_record(ROT1.id)) is None  # its tombstone is forgotten
        assert (await store.get_record(ROT1_RETRACT.id)) is not None
        # received again, the rotation stays: the retract held no longer erases a key event
        assert await store.add([ROT1], T0 + 30) == [True]
        row = await store.get_record(ROT1.id)
        assert row is not None and not row.retracted
        # a new retract of a key event erases nothing either, whichever arrives first
        icp_retract = retract(FIRST, ICP, T0 + 40)
        assert await store.add([icp_retract], T0 + 40) == [True]
        row = await store.get_record(ICP.id)
        assert row is not None and not row.retracted
        held = [ICP, ROT1, OPP, ROT1_RETRACT, icp_retract]
        assert await dump_views(store.reader, T0 + 50) == derive(held, T0 + 50)
    finally:
        await store.close()
    again = await engine.open(place)  # nothing left to migrate
    try:
        assert (await again.get_record(ROT1.id)) is not None
    finally:
        await again.close()


async def test_a_refused_key_event_is_not_stored(tmp_path: Path) -> None:
    home = make_home(tmp_path, "acme")
    async with running_node(home) as node, aiohttp.ClientSession() as session:
        base = node.config.public_url
        now = node.clock.now_ms()
        bad = signed_unchecked(
            R1,
            KEY_ROTATION,
            now,
            {**BAD_NEXT.body, "next": next_digest(R2.public_key.raw), "key_sig": b"\x01" * 64},
        )
        for wire, klass in ((BAD_NEXT.wire, "schema"), (bad.wire, "signature")):
            async with session.post(
                f"{base}/v1/records",
                data=wire,
                headers={"Content-Type": "application/msgpack"},
            ) as response:
                answer = await response.json(content_type=None)
            assert response.status in (200, 207, 400, 422), answer
            assert klass in str(answer), answer
        for record in (BAD_NEXT, bad):
            async with session.get(f"{base}/v1/records/{record.id.hex()}") as response:
                assert response.status == 404
