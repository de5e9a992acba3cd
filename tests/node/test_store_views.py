"""The store's trigger-maintained views equal ``protocol.views.derive`` for every arrival order.

A fixed pool of signed records exercises every rule of section 6 (replaceable versions with
equal ``created``, ends by parties and by others, grounded/ungrounded/expiring attestations,
retracts of every kind of target, arriving before or after it, unknown kinds, key events).
Hypothesis picks a subset, an order, duplicates and batches (some submitted concurrently, so
that they share one group commit); after every batch the views rebuilt from SQL must equal
``derive`` of the records added so far, at two different times.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import SigningKey
from node.storage.pg_store import PgStore
from node.storage.queries import OpportunityFilter
from node.storage.store import Store
from node.storage.viewdump import dump_views
from protocol.keyevents import inception, rotation
from protocol.record import Record
from protocol.validate import validate
from protocol.views import EXPIRED, GROUNDED, UNGROUNDED, Views, derive
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    member_profile,
    opportunity,
    org_profile,
    reply,
    retract,
    unknown_kind,
)
from tests.support.stores import Engine

T0 = 1_760_000_000_000
EARLY = T0 + 30  # AT5 not yet expired
LATE = T0 + 10_000  # AT5 expired
NOWS = (EARLY, LATE)
MISSING_ALLIANCE = b"\xaa" * 32
MISSING_TARGET = b"\xbb" * 32
MISSING_REPLY_TARGET = b"\xcc" * 32

C = Cast.seeded("store-views")
A, B, M, N, X = C.org, C.org_b, C.member, C.member_b, C.outsider

P1 = org_profile(A, T0, "A one")
P2 = org_profile(A, T0 + 5, "A two")
P3 = org_profile(A, T0 + 5, "A three")  # same created as P2: the greater id wins
P4 = org_profile(B, T0, "B")
MP1 = member_profile(M, T0, "Aiko")
MP2 = member_profile(M, T0 + 3, "Aiko K.", skills=["ux"])
O1 = opportunity(A, T0 + 1, slug="dev", title="Dev")
O2 = opportunity(A, T0 + 1, slug="dev", title="Dev (remote)", remote=True)  # tie with O1
O3 = opportunity(A, T0 + 2, slug="dev", title="Dev, filled", status="filled")
O4 = opportunity(A, T0 + 1, slug="ops", title="Ops")
O5 = opportunity(B, T0 + 1, slug="dev", title="B's dev")
AL1 = alliance(A, M, T0, alumni=True)
AL2 = alliance(A, N, T0, alumni=False)
AL3 = alliance(B, M, T0 + 1, alumni=True, tour="rotational")
E1 = alliance_end(M, AL1, T0 + 10)
E2 = alliance_end(A, AL1, T0 + 10, "ended-early")  # same created as E1: the smaller id wins
E3 = alliance_end(X, AL1, T0 + 5)  # not a party: no effect, ever
E4 = alliance_end(B, AL1, T0 + 6)  # a party of another alliance: no effect
E5 = alliance_end(A, AL2, T0 + 20)
E6 = alliance_end(M, P1, T0 + 7)  # names a held record that is not an alliance
E7 = alliance_end(A, MISSING_ALLIANCE, T0 + 8)  # pending
E8 = alliance_end(M, AL3, T0 + 30, note="done")
AT1 = attestation(A, M, T0 + 11, grounded_in=AL1)
AT2 = attestation(M, A, T0 + 12, "rating", AL1, score=5)
AT3 = attestation(X, M, T0 + 13, "recommendation", AL1, text="great")  # not the parties
AT4 = attestation(A, M, T0 + 14, "skill", skill="ux", level=3)  # no alliance named
AT5 = attestation(A, M, T0 + 15, "skill", AL1, skill="python", expires=T0 + 40)
AT6 = attestation(B, N, T0 + 16, grounded_in=MISSING_ALLIANCE)  # pending
AT7 = attestation(A, N, T0 + 17, grounded_in=P2)  # names a profile
AT8 = attestation(B, M, T0 + 18, grounded_in=AL3, expires=T0 + 1)  # always expired
AT9 = attestation(A, N, T0 + 19, grounded_in=AL2)
AT10 = attestation(M, B, T0 + 19, grounded_in=AL1)  # alliance of M with A, not B
AT11 = attestation(B, N, T0 + 20, grounded_in=O3)  # names a record that gets retracted
E9 = alliance_end(X, O3, T0 + 9)  # the same
# revision 2: relations, ends dated before their alliance, tour.completed grounding, replies
AL4 = alliance(A, B, T0 + 2, alumni=True, relation="supplier")  # two organisations
E10 = alliance_end(B, AL4, T0 + 1)  # dated before its alliance: no effect, ever
E11 = alliance_end(A, AL4, T0 + 12, "ended-early")  # alumni after any end
AT12 = attestation(B, M, T0 + 26, grounded_in=AL3)  # tour.completed, AL3 ended completed
AT13 = attestation(B, A, T0 + 27, grounded_in=AL4)  # tour.completed, AL4 ended early
RP1 = reply(A, AT2, T0 + 41, "Thank you.")  # A is AT2's subject
RP2 = reply(A, AT2, T0 + 42, "Thank you, again.")  # newer: current until retracted
RP3 = reply(X, AT2, T0 + 43)  # not the subject: no effect
RP4 = reply(M, AT5, T0 + 44)  # M answers a skill attestation that expires later
RP5 = reply(B, E11, T0 + 45, "We agreed to stop.")  # the other party of the end
RP6 = reply(A, E11, T0 + 46)  # the end's own author: no effect
RP7 = reply(M, MISSING_REPLY_TARGET, T0 + 47)  # pending for ever
RP8 = reply(N, AT6, T0 + 48)  # its target is pending, then erased
RP9 = reply(M, AT1, T0 + 49)  # its target gets retracted: no effect
RP10 = reply(M, E9, T0 + 50)  # an end naming a record that is not an alliance
# key events (revision 3 proposal): known kinds, never erased by a retract
KI, KS0, KR1, KS1, KR2 = (SigningKey.from_seed(bytes([0x70 + n]) * 32) for n in range(5))
ICP = inception(KI, KS0, KR1.public_key, T0)
ROT1 = rotation(KR1, KS1, KI.public_key.raw, 1, ICP.id, KR2.public_key, T0 + 2)
U1 = unknown_kind(A, T0 + 2, "x.custom-note")
U2 = unknown_kind(X, T0 + 3, "org.badge", level=2)
RETRACTS = [
    retract(A, O3, T0 + 21),  # the newest "dev": the O1/O2 tie decides again
    retract(A, P3, T0 + 22),  # one of the two profiles with equal created
    retract(A, AT4, T0 + 23),
    retract(M, E1, T0 + 24),  # an end: the other end by a party takes over
    retract(A, AL1, T0 + 25),  # an alliance: no effect
    retract(A, MISSING_TARGET, T0 + 28),  # pending for ever
    retract(A, U1, T0 + 29),  # an unknown kind, by its author
    retract(B, AT6, T0 + 30),  # a pending attestation
    retract(A, E7, T0 + 31),  # a pending end
    retract(M, MP2, T0 + 32),  # the newest member profile: the older one is current again
    retract(A, O4, T0 + 33),  # the only version of "ops": the slot disappears
    retract(A, AT1, T0 + 34),
    retract(A, E5, T0 + 35),  # AL2 is in force again
    retract(X, O5, T0 + 36),  # not the author: no effect
    retract(A, E1, T0 + 37),  # an end by someone else: no effect
    retract(X, U2, T0 + 38),
    retract(A, U2, T0 + 39),  # an unknown kind by someone else: no effect
    retract(A, RP2, T0 + 51),  # the newest reply: the older one is current again
    retract(M, RP4, T0 + 52),  # RP4's only version
]
KEY_RETRACTS = [retract(KI, ICP, T0 + 53), retract(KR1, ROT1, T0 + 54)]  # key events: no effect
R_OF_R = retract(A, RETRACTS[0], T0 + 40)  # a retract of a retract: no effect

POOL: list[Record] = [
    P1,
    P2,
    P3,
    P4,
    MP1,
    MP2,
    O1,
    O2,
    O3,
    O4,
    O5,
    AL1,
    AL2,
    AL3,
    E1,
    E2,
    E3,
    E4,
    E5,
    E6,
    E7,
    E8,
    E9,
    AT1,
    AT2,
    AT3,
    AT4,
    AT5,
    AT6,
    AT7,
    AT8,
    AT9,
    AT10,
    AT11,
    U1,
    U2,
    AL4,
    E10,
    E11,
    AT12,
    AT13,
    RP1,
    RP2,
    RP3,
    RP4,
    RP5,
    RP6,
    RP7,
    RP8,
    RP9,
    RP10,
    ICP,
    ROT1,
    *RETRACTS,
    *KEY_RETRACTS,
    R_OF_R,
]


def test_pool_is_valid_and_exercises_every_rule() -> None:
    for record in POOL:
        assert validate(record.wire, LATE).id == record.id
    assert len({r.id for r in POOL}) == len(POOL)
    views = derive(POOL, EARLY)
    assert views.pending == {
        MISSING_TARGET: frozenset({RETRACTS[5].id}),
        MISSING_REPLY_TARGET: frozenset({RP7.id}),
    }
    assert views.replies == {AT2.id: RP1, E11.id: RP5}
    assert derive([r for r in POOL if r is not RETRACTS[-2]], EARLY).replies[AT2.id] == RP2
    assert views.alliances[AL4.id].end == E11 and views.alliances[AL4.id].relation == "supplier"
    assert derive([AL4, E10], EARLY).alliances[AL4.id].in_force
    assert views.opportunities[(O1.author, "dev")] == max(O1, O2, key=lambda r: r.id)
    assert (O4.author, "ops") not in views.opportunities
    assert views.org_profiles[P2.author] == P2
    assert views.member_profiles[MP1.author] == MP1
    assert views.alliances[AL1.id].end == E2
    assert views.alliances[AL2.id].in_force
    assert views.alliances[AL3.id].end == E8
    assert views.alumni == {
        A.public_key.raw: frozenset({M.public_key.raw, B.public_key.raw}),
        B.public_key.raw: frozenset({M.public_key.raw}),
    }
    states = {aid: s.state for aid, s in views.attestations.items()}
    assert states == {
        AT2.id: GROUNDED,
        AT3.id: UNGROUNDED,
        AT5.id: GROUNDED,
        AT7.id: UNGROUNDED,
        AT8.id: EXPIRED,
        AT9.id: UNGROUNDED,  # tour.completed: AL2's completed end was retracted
        AT10.id: UNGROUNDED,
        AT11.id: UNGROUNDED,
        AT12.id: GROUNDED,  # tour.completed: AL3 ended completed
        AT13.id: UNGROUNDED,  # tour.completed: AL4 ended early
    }
    assert derive(POOL, LATE).attestations[AT5.id].state == EXPIRED
    assert set(views.tombstones) == {
        O3.id,
        P3.id,
        AT4.id,
        E1.id,
        U1.id,
        AT6.id,
        E7.id,
        MP2.id,
        O4.id,
        AT1.id,
        E5.id,
        U2.id,
        RP2.id,
        RP4.id,
    }
    assert views.unknown == frozenset()
    without = derive([r for r in POOL if r not in (AL1, P1)], EARLY)
    # erased records (E1, AT1) wait on nothing; a retract of an absent alliance does wait
    assert without.pending[AL1.id] == {
        E2.id,
        E3.id,
        E4.id,
        AT2.id,
        AT3.id,
        AT5.id,
        AT10.id,
        RETRACTS[4].id,
    }
    assert without.pending[P1.id] == {E6.id}


async def _check(store: Store, added: list[Record]) -> None:
    for now in NOWS:
        stored = await dump_views(store.reader, now)
        expected = derive(added, now)
        _assert_equal(stored, expected)
    if isinstance(store, PgStore):
        await _check_pg_search(store, derive(added, EARLY))
        return
    assert await _search_index(store, "main", "opportunity_search") == await _rebuilt_index(
        store
    ), "the full-text index is not exactly the current opportunities"


async def _check_pg_search(store: Store, views: Views) -> None:
    """PostgreSQL's search finds each current opportunity by its title, and only current ones."""
    current = {r.id for r in views.opportunities.values()}
    for record in views.opportunities.values():
        word = record.body["title"].split()[0].strip(",")
        found = await store.list_opportunities(OpportunityFilter(q=word), None, 500)
        assert record.id in {row.id for row in found}, word
        assert {row.id for row in found} <= current


async def _search_index(store: Store, schema: str, table: str) -> list[tuple[object, ...]]:
    """The terms the FTS5 index itself holds: (term, rowid, column, offset)."""
    db = store.reader
    await db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table}_vocab"
        f" USING fts5vocab({schema}, '{table}', 'instance')"
    )
    return sorted(await db.execute_fetchall(f"SELECT * FROM temp.{table}_vocab"))


async def _rebuilt_index(store: Store) -> list[tuple[object, ...]]:
    """The index a fresh FTS5 table holds for the current opportunities' facts."""
    db = store.reader
    await db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.expected_search USING fts5("
        "title, summary, skills, tokenize='unicode61 remove_diacritics 2')"
    )
    await db.execute("DELETE FROM temp.expected_search")
    await db.execute(
        "INSERT INTO temp.expected_search (rowid, title, summary, skills)"
        " SELECT f.rowid, f.title, f.summary, f.skills FROM opportunity_facts f"
        " JOIN current c ON c.id = f.id WHERE c.kind = 'opportunity'"
    )
    return await _search_index(store, "temp", "expected_search")


def _assert_equal(stored: Views, expected: Views) -> None:
    # field by field first, for a readable failure; then the whole value
    for name in Views.__dataclass_fields__:
        assert getattr(stored, name) == getattr(expected, name), name
    assert stored.to_json() == expected.to_json()
    assert stored == expected


async def _deliver(
    engine: Engine, place: str, batches: list[list[Record]], together: list[bool]
) -> None:
    """Add ``batches`` in order; consecutive batches flagged ``together`` are submitted
    concurrently (one group commit). Checks the views after each step and the stored flags."""
    store = await engine.open(place)
    try:
        added: list[Record] = []
        seen: set[bytes] = set()
        i = 0
        while i < len(batches):
            step = [batches[i]]
            while i + len(step) < len(batches) and together[i + len(step)]:
                step.append(batches[i + len(step)])
            i += len(step)
            results = await asyncio.gather(*(store.add(b, T0) for b in step))
            for batch, flags in zip(step, results, strict=True):
                expected_flags = []
                for record in batch:
                    expected_flags.append(record.id not in seen)
                    seen.add(record.id)
                assert flags == expected_flags
                added.extend(batch)
            await _check(store, added)
    finally:
        await store.close()


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[list[Record]], list[bool]]:
    order = draw(st.permutations(range(len(POOL))))
    dropped = draw(st.sets(st.sampled_from(order), max_size=len(POOL) // 3))
    sequence = [POOL[i] for i in order if i not in dropped]
    for position, index in draw(
        st.lists(st.tuples(st.integers(0, len(POOL)), st.sampled_from(order)), max_size=6)
    ):
        sequence.insert(min(position, len(sequence)), POOL[index])
    batches: list[list[Record]] = []
    while sequence:
        size = draw(st.integers(1, max(1, len(sequence))))
        size = min(size, draw(st.sampled_from([1, 3, 8, 20, len(sequence)])))
        batches.append(sequence[:size])
        sequence = sequence[size:]
    together = draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))
    return batches, together


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery=deliveries())
def test_store_views_equal_derive_for_any_arrival(
    engine: Engine, delivery: tuple[list[list[Record]], list[bool]]
) -> None:
    batches, together = delivery

    async def run() -> None:
        await _deliver(engine, await engine.fresh("views"), batches, together)

    asyncio.run(run())


async def test_views_in_fixed_orders_and_after_reopening(engine: Engine) -> None:
    """Forward, backward, one record at a time and all at once; the same after reopening."""
    orders = {
        "forward": [POOL],
        "backward": [[r] for r in reversed(POOL)],
        "retracts first": [[r] for r in sorted(POOL, key=lambda r: r.kind != "retract")],
    }
    for name, batches in orders.items():
        place = await engine.fresh(name)
        await _deliver(engine, place, batches, [False] * len(batches))
        store = await engine.open(place)
        try:
            await _check(store, POOL)
            assert await store.add(POOL, T0) == [False] * len(POOL)
            await _check(store, POOL)
        finally:
            await store.close()
