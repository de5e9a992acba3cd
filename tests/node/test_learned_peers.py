"""The learned-peer table, on the fake clock: one learning slot per organisation, learned peers
that never answer age out, active peers chosen by recent success.

The peer table is real, on each storage engine in turn (SQLite, PostgreSQL: the ``engine``
fixture); only time is held still.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from crypto import SigningKey
from node.clock import FakeClock
from node.config import FederationConfig
from node.federation.clients import ClientPool
from node.federation.directory import PeerDirectory
from node.federation.roster import PeerRoster
from node.storage.peers import LEARNED
from tests.support.stores import Engine

TTL = 600.0
SETTINGS = FederationConfig(max_peers=4, learned_peer_ttl=TTL)


@asynccontextmanager
async def roster_on(engine: Engine, clock: FakeClock) -> AsyncIterator[PeerRoster]:
    place = await engine.fresh("node")
    store = await engine.open(place)
    state = await engine.open_peers(place)
    async with aiohttp.ClientSession() as session:
        pool = ClientPool(session, SigningKey.generate())
        try:
            yield PeerRoster(
                state,
                pool,
                PeerDirectory(),
                clock,
                lambda: SETTINGS,
                "http://127.0.0.1:1",
                lambda url: None,
            )
        finally:
            await state.close()
            await store.close()


def urls(org: str, count: int) -> list[str]:
    return [f"https://{org}-{i}.example" for i in range(count)]


async def learned(roster: PeerRoster) -> set[str]:
    return {url for url, row in (await roster.state.all()).items() if row.source == LEARNED}


async def test_one_organisation_takes_one_learning_slot(engine: Engine) -> None:
    async with roster_on(engine, FakeClock()) as roster:
        assert await roster.learn(urls("a", 50), b"a" * 32)
        assert not await roster.learn(urls("a", 50)[::-1], b"a" * 32)  # the same slot
        assert await roster.learn(urls("b", 50), b"b" * 32)
        assert await learned(roster) == {"https://a-0.example", "https://b-0.example"}


async def test_the_table_is_bounded_however_many_organisations(engine: Engine) -> None:
    async with roster_on(engine, FakeClock()) as roster:
        for n in range(100):
            await roster.learn(urls(f"o{n}", 3), f"o{n}".encode())
        assert len(await roster.state.all()) == 4 * SETTINGS.max_peers


async def test_learned_peers_that_never_answer_age_out(engine: Engine) -> None:
    clock = FakeClock()
    async with roster_on(engine, clock) as roster:
        for n in range(3):
            await roster.learn(urls(f"o{n}", 1), f"o{n}".encode())
        quiet, healthy, failing = sorted(await learned(roster))
        clock.advance(TTL / 2)
        await roster.state.succeeded(healthy, clock.now_ms())
        await roster.state.succeeded(failing, clock.now_ms())
        await roster.state.failed(failing, clock.now_ms(), "down")
        assert await roster.age_out() == []  # nobody past the TTL yet
        clock.advance(TTL / 2 + 1)
        assert await roster.age_out() == [quiet]  # never answered, learned TTL + 1 s ago
        clock.advance(TTL / 2)
        assert await roster.age_out() == [failing]  # last answered TTL + 1 s ago, failing
        assert await learned(roster) == {healthy}  # answering (no failures since): kept
        assert await roster.learn(urls("o0", 1), b"o0")  # its slot is free again


async def test_active_learned_peers_are_chosen_by_recent_success(engine: Engine) -> None:
    clock = FakeClock()
    async with roster_on(engine, clock) as roster:
        for n in range(8):
            await roster.learn(urls(f"o{n}", 1), f"o{n}".encode())
        rows = sorted(await learned(roster))
        for i, url in enumerate(rows):
            clock.advance(1)
            if i % 2:
                await roster.state.succeeded(url, clock.now_ms())
            else:
                await roster.state.failed(url, clock.now_ms(), "down")
        active = await roster.active()
        assert active == [rows[7], rows[5], rows[3], rows[1]]  # newest success first
