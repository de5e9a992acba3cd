"""Revision 2 closes the "contract gap" of retracts: a record erased at its first node before it
spread reads the same everywhere. Hypothesis builds two stores from the same history: the first
node receives every record (so it erases targets, keeping tombstones), the second never gets
the erased targets, only their retracts (pending on them), in any order. Both must list the same
records and answer the same for every id."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.api.records import answer_by_id
from node.storage.queries import MAX_LIMIT, RecordFilter
from node.storage.store import Store
from protocol import Record
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    opportunity,
    org_profile,
    reply,
    retract,
    unknown_kind,
)

T0 = 1_760_000_000_000
C = Cast.seeded("retract-gap")
PACT = alliance(C.org, C.member, T0)
TARGETS = [
    org_profile(C.org, T0 + 1, "Aurora"),
    opportunity(C.org, T0 + 2, slug="short-lived"),
    attestation(C.org, C.member, T0 + 3, "recommendation", PACT, text="oops"),
    alliance_end(C.member, PACT, T0 + 4),
    unknown_kind(C.outsider, T0 + 5),
    reply(C.member, b"\x01" * 32, T0 + 6),
]


def _retract_of(target: Record, i: int) -> Record:
    signer = {
        C.org.public_key.raw: C.org,
        C.member.public_key.raw: C.member,
        C.outsider.public_key.raw: C.outsider,
    }[target.author]
    return retract(signer, target, T0 + 10 + i)


RETRACTS = [_retract_of(t, i) for i, t in enumerate(TARGETS)]
WRONG_AUTHOR = retract(C.outsider, TARGETS[1], T0 + 30)  # no effect: not the author
OTHERS = [PACT, org_profile(C.org_b, T0, "Birch"), WRONG_AUTHOR]


async def _listing(store: Store) -> list[bytes]:
    rows = await store.list_records(RecordFilter(), 0, MAX_LIMIT)
    return sorted(r.id for r in rows)


async def _answers(store: Store, ids: list[bytes]) -> list[int]:
    return [(await answer_by_id(store, rid))[0] for rid in ids]


async def _compare(tmp: Path, first: list[Record], second: list[Record], batches: int) -> None:
    a = await Store.open(tmp / "first.db")
    b = await Store.open(tmp / "second.db")
    try:
        for i in range(batches):
            await a.add(first[i::batches], T0)
            await b.add(second[i::batches], T0)
        ids = sorted({r.id for r in first} | {b"\x02" * 32})
        assert await _listing(a) == await _listing(b)
        assert await _answers(a, ids) == await _answers(b, ids)
        erased = [t.id for t in TARGETS if t in first]
        assert await _answers(b, erased) == [410] * len(erased)
        assert not set(erased) & set(await _listing(a))
    finally:
        await a.close()
        await b.close()


@settings(max_examples=30, deadline=None)
@given(
    st.permutations(range(len(TARGETS) + len(RETRACTS) + len(OTHERS))),
    st.sets(st.integers(0, len(TARGETS) - 1)),
    st.integers(1, 4),
)
def test_a_tombstone_and_a_pending_retract_read_the_same(
    order: list[int], retracted: set[int], batches: int
) -> None:
    pool = TARGETS + RETRACTS + OTHERS
    chosen = [
        pool[i]
        for i in order
        if i >= len(TARGETS) + len(RETRACTS) or (i % len(TARGETS)) in retracted
    ]
    # the first node got each retracted target and its retract; the second only the retract
    second = [r for r in chosen if r not in TARGETS]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_compare(Path(tmp), chosen, second, batches))
