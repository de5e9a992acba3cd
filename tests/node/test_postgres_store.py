"""What the PostgreSQL engine adds for a node of several processes: writers that never both
claim a record, arrival cursors that never skip one, and commits announced to the others."""

from __future__ import annotations

import asyncio

from node.storage.pg_store import PgStore
from protocol import Record
from tests.support import Cast, opportunity
from tests.support.stores import Engine

T0 = 1_760_000_000_000


def _records(count: int, label: str) -> list[Record]:
    cast = Cast.seeded(f"pg-{label}")
    return [opportunity(cast.org, T0 + i, slug=f"{label}-{i}") for i in range(count)]


async def _two_stores(postgres_server_dsn: str, tmp_path: object) -> tuple[PgStore, PgStore]:
    engine = Engine("postgresql", tmp_path, postgres_server_dsn)  # type: ignore[arg-type]
    place = await engine.fresh("writers")
    return await PgStore.open(place), await PgStore.open(place)


async def test_two_writers_claim_each_record_once(postgres_server_dsn: str, tmp_path) -> None:
    a, b = await _two_stores(postgres_server_dsn, tmp_path)
    try:
        shared = _records(60, "shared")
        batches_a = [shared[i : i + 7] for i in range(0, 60, 7)]
        batches_b = [list(reversed(shared[i : i + 5])) for i in range(0, 60, 5)]
        results = await asyncio.gather(
            *(a.add(batch, T0) for batch in batches_a), *(b.add(batch, T0) for batch in batches_b)
        )
        claimed = [
            record.id
            for batch, flags in zip(batches_a + batches_b, results, strict=True)
            for record, new in zip(batch, flags, strict=True)
            if new
        ]
        assert sorted(claimed) == sorted(r.id for r in shared), "each record new exactly once"
        assert await a.last_seq() == await b.last_seq()
    finally:
        await a.close()
        await b.close()


async def test_commits_of_another_process_reach_on_commit(
    postgres_server_dsn: str, tmp_path
) -> None:
    follower, writer = await _two_stores(postgres_server_dsn, tmp_path)
    seen: list[bytes] = []
    done = asyncio.Event()
    records = _records(40, "announced")

    def listener(new: list[Record]) -> None:
        seen.extend(r.id for r in new)
        if len(seen) >= len(records):
            done.set()

    follower.on_commit.append(listener)
    try:
        await follower.follow_other_writers()
        for start in range(0, 40, 8):  # five transactions, announced in commit order
            await writer.add(records[start : start + 8], T0)
        await asyncio.wait_for(done.wait(), 20)
        assert seen == [r.id for r in records]
        assert await follower.add(records[:3], T0) == [False] * 3
    finally:
        await follower.close()
        await writer.close()
