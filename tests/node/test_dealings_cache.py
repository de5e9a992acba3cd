"""Whether a plain key deals with an identity that has key events is remembered until a commit
can change it (``HistoryCache.deals``): the answer a page by identity needs first."""

from __future__ import annotations

from typing import Any

from crypto import SigningKey
from node.storage.identities import HistoryCache
from protocol.keyevents import inception
from tests.support import attestation, member_profile, org_profile

T = 1_760_000_000_000
FIRST, S0, R1 = (SigningKey.from_seed(bytes([0x70 + n]) * 32) for n in range(3))
MEMBER, STRANGER = SigningKey.from_seed(b"\x7a" * 32), SigningKey.from_seed(b"\x7b" * 32)


async def test_dealings_are_kept_until_a_commit_that_can_change_them(engine: Any) -> None:
    store = await engine.open(await engine.fresh("dealings"))
    try:
        cache = HistoryCache(store)
        store.on_commit.append(cache.on_commit)
        member = MEMBER.public_key.raw
        icp = inception(FIRST, S0, R1.public_key, T, cutoff=0)
        await store.add([icp, org_profile(S0, T + 1, "Aurora"), member_profile(MEMBER, T)], T)
        keys = await cache.histories()
        assert S0.public_key.raw in keys.chained
        assert await cache.deals(member, keys) is False
        # a record that no chained key signs or names leaves the answer in place
        await store.add([org_profile(STRANGER, T + 2, "Elsewhere")], T)
        assert cache.dealings == {member: False}
        # an attestation by the identity's signing key about the member changes it
        await store.add([attestation(S0, MEMBER, T + 3, "recommendation", text="good")], T)
        assert cache.dealings == {}
        keys = await cache.histories()
        assert await cache.deals(member, keys) is True
        assert await cache.deals(STRANGER.public_key.raw, keys) is False
    finally:
        await store.close()
