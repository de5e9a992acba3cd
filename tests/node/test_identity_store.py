"""The node's views by identity, gathered from the store by bounded lookups
(``node.storage.identities.identity_views``), equal ``protocol.derive_identities`` over every
record held, for any subset and arrival order of a pool with rotations, a fork, a contested
rotation and records by old and new keys — with the key events stored as known kinds, on both
engines, with the views cached across commits that cannot change them."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.storage.identities import HistoryCache, identity_views
from protocol.identityviews import IdentityViews, derive_identities
from protocol.record import Record
from protocol.reputation import reputation
from tests.protocol.test_identityviews import FI, MI, NOW, OI, PLAIN, POOL, raw
from tests.support.stores import Engine

IDENTITIES = [raw(k) for k in (OI, MI, FI, PLAIN)]


def projection(views: IdentityViews, identity: bytes) -> dict[str, Any]:
    """What the node answers about ``identity`` (documents, pages, filters)."""
    v = views.views
    history = views.keys.history(identity)
    return {
        "org": None if identity not in v.org_profiles else v.org_profiles[identity].id,
        "member": None if identity not in v.member_profiles else v.member_profiles[identity].id,
        "opportunities": sorted(
            (s, r.id) for (a, s), r in v.opportunities.items() if a == identity
        ),
        "alliances": sorted(
            (aid, s.org, s.member, None if s.end is None else s.end.id)
            for aid, s in v.alliances.items()
            if identity in (s.org, s.member)
        ),
        "alumni": sorted(v.alumni.get(identity, ())),
        "reputation": reputation(v, identity).to_json(),
        "keys": None if history is None else history.to_json(),
    }


async def _check(engine: Engine, batches: list[list[Record]]) -> None:
    store = await engine.open(await engine.fresh("identity"))
    cache = HistoryCache(store)
    store.on_commit.append(cache.on_commit)
    try:
        held: list[Record] = []
        for batch in batches:  # after every commit: the cached views of an identity are kept
            await store.add(batch, NOW)  # only while no new record can change them
            held.extend(batch)
            expected = derive_identities(held, NOW)
            for identity in IDENTITIES:
                got = await identity_views(cache, [identity], NOW)
                assert projection(got, identity) == projection(expected, identity)
    finally:
        await store.close()


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[Record]]:
    kept = [r for r in draw(st.permutations(POOL)) if draw(st.integers(0, 4))]
    batches: list[list[Record]] = []
    while kept:
        size = draw(st.sampled_from([1, 2, 5, len(kept)]))
        batches.append(kept[:size])
        kept = kept[size:]
    return batches


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=arrivals())
def test_stored_views_by_identity_equal_derive(engine: Engine, batches: list[list[Record]]) -> None:
    asyncio.run(_check(engine, batches))


def test_the_whole_pool(engine: Engine) -> None:
    asyncio.run(_check(engine, [POOL]))
