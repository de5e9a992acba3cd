"""Private records in the store, on both engines, through the one way in (``Ingestor``): an
alliance whose draft is marked private, and what names it, never reach ``records``."""

from __future__ import annotations

from node.clock import SystemClock
from node.ingest import Ingestor
from node.storage.queries import RecordFilter
from node.verifier import Verifier
from protocol import ALLOW_ALL
from tests.support import Cast, alliance, alliance_end, attestation, now_ms, retract
from tests.support.stores import Engine


async def test_private_records_stay_out_of_records(engine: Engine) -> None:
    store = await engine.open(await engine.fresh("private"))
    verifier = Verifier(workers=0)
    announced: list[bytes] = []
    store.on_commit.append(lambda new: announced.extend(r.id for r in new))
    ingestor = Ingestor(store, verifier, SystemClock(), lambda: ALLOW_ALL)
    try:
        cast, t0 = Cast.fresh(), now_ms() - 60_000
        secret = alliance(cast.org, cast.member, t0, mission="Quiet work.")
        open_one = alliance(cast.org, cast.member_b, t0 + 1)
        await store.mark_draft_private(secret.id)
        assert await store.is_draft_private(secret.id)
        assert not await store.is_draft_private(open_one.id)
        ended = alliance_end(cast.org, secret, t0 + 2)
        skill = attestation(cast.org, cast.member, t0 + 3, "skill", secret, skill="go")
        withdrawn = attestation(cast.org, cast.member, t0 + 4, "rating", secret, score=2)
        gone = retract(cast.org, withdrawn, t0 + 5)
        public = attestation(cast.org, cast.member_b, t0 + 6, "skill", open_one, skill="c")
        batch = [secret, open_one, ended, skill, withdrawn, gone, public]
        outcomes = await ingestor.submit([r.wire for r in batch])
        assert [o.stored for o in outcomes] == [True] * len(batch)
        again = await ingestor.submit([secret.wire, skill.wire])
        assert [o.stored for o in again] == [False, False]

        private_ids = {r.id for r in (secret, ended, skill, withdrawn, gone)}
        assert set(announced) == {open_one.id, public.id}
        listed = await store.list_records(RecordFilter(), 0, 100)
        assert {row.id for row in listed} == {open_one.id, public.id}
        for rid in private_ids:
            assert await store.get_record(rid) is None
        assert not await store.live_wires(sorted(private_ids))
        keys = await store.live_keys((0, b""), 100)
        assert private_ids.isdisjoint(rid for _, rid in keys)

        row = await store.get_private(skill.id)
        assert row is not None and row.wire == skill.wire
        assert row.parties == (cast.org.public_key.raw, cast.member.public_key.raw)
        assert row.shown_to(cast.member.public_key.raw) and not row.shown_to(
            cast.outsider.public_key.raw
        )
        erased = await store.get_private(withdrawn.id)
        assert erased is not None and erased.wire is None  # retracted by its author
        mine = await store.private_of(cast.member.public_key.raw)
        assert mine == [r.wire for r in (secret, ended, skill, gone)]
        assert await store.private_of(cast.org.public_key.raw) == mine
        assert await store.private_of(cast.member_b.public_key.raw) == []
    finally:
        verifier.close()
        await store.close()


async def test_a_draft_marked_private_before_a_restart_stays_private(engine: Engine) -> None:
    """Classifying costs no query until something private is kept; a store reopened over a
    marked draft must know it has one."""
    where = await engine.fresh("private-restart")
    cast, t0 = Cast.fresh(), now_ms() - 60_000
    secret = alliance(cast.org, cast.member, t0, mission="Quiet work.")
    skill = attestation(cast.org, cast.member, t0 + 1, "skill", secret, skill="go")
    store = await engine.open(where)
    try:
        assert await store.classify_private([secret, skill]) == [None, None]
        await store.mark_draft_private(secret.id)
    finally:
        await store.close()
    store = await engine.open(where)
    try:
        parties = (cast.org.public_key.raw, cast.member.public_key.raw)
        assert await store.classify_private([secret, skill]) == [parties, parties]
        ingestor = Ingestor(store, Verifier(workers=0), SystemClock(), lambda: ALLOW_ALL)
        outcomes = await ingestor.submit([secret.wire, skill.wire])
        assert [o.stored for o in outcomes] == [True, True]
        assert await store.get_record(secret.id) is None
        assert (await store.get_private(skill.id)) is not None
    finally:
        await store.close()
