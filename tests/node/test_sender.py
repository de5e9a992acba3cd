"""A peer sender and its backoff, in this process, on the fake clock.

The peer table and the store are real, on each storage engine in turn (the ``engine`` fixture),
the receiving peer a real in-process node;
only time is held still, so that backoff deadlines and the times written to the peer's row are
exact.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from node.clock import FakeClock
from node.federation.backoff import backoff_delay
from node.federation.sender import PeerSender
from node.storage.peers import SEED, PeerTable
from node.storage.store import Store
from node.transport import NodeClient
from tests.support import Cast, base_url, free_port, make_home, now_ms, opportunity, running_node
from tests.support.stores import Engine

PEER_KEY = bytes(range(32))  # raw, as every key inside the node


@asynccontextmanager
async def outbox_of(engine: Engine, count: int) -> AsyncIterator[tuple[Store, PeerTable]]:
    """A store holding ``count`` records and the peer table over the same database."""
    place = await engine.fresh("sender")
    store = await engine.open(place)
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    await store.add([opportunity(cast.org, t0 + i, slug=f"s{i}") for i in range(count)], t0)
    state = await engine.open_peers(place)
    try:
        yield store, state
    finally:
        await state.close()
        await store.close()


def sender_to(
    url: str, session: aiohttp.ClientSession, state: PeerTable, clock: FakeClock
) -> PeerSender:
    async def identify(_url: str) -> bytes:
        return PEER_KEY

    return PeerSender(
        url,
        NodeClient(url, session),
        state,
        clock,
        push_interval=3600.0,
        max_backoff=8.0,
        on_recovered=lambda _url: None,
        identify=identify,
    )


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    rng = random.Random(7)
    assert backoff_delay(0, 120.0, rng) == 0.0
    for failures in range(1, 12):
        ceiling = min(8.0, 2.0 ** (failures - 1))
        delays = [backoff_delay(failures, 8.0, rng) for _ in range(200)]
        assert all(0.0 <= d < ceiling for d in delays), (failures, max(delays))
        assert max(delays) > ceiling * 0.8, "the jitter does not spread over the whole range"


async def test_failed_pushes_back_off_on_the_clock_and_are_written_down(engine: Engine) -> None:
    clock = FakeClock()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with outbox_of(engine, 3) as (_store, state), aiohttp.ClientSession() as session:
        await state.ensure(url, SEED, 0, clock.now_ms())
        sender = sender_to(url, session, state, clock)
        for failures in (1, 2, 3):
            assert await sender.push_once() is False
            assert sender.failures == failures
            wait = sender.retry_at - clock.monotonic()
            assert 0.0 <= wait < min(8.0, 2.0 ** (failures - 1))
            row = await state.get(url)
            assert row is not None and row.failures == failures
            assert row.last_error == clock.now_ms() and row.error and row.cursor == 0
            clock.advance(10.0)


async def test_contact_ends_a_backoff_and_only_a_backoff(tmp_path: Path) -> None:
    clock = FakeClock()
    url = f"http://127.0.0.1:{free_port()}"
    async with (
        outbox_of(Engine("sqlite", tmp_path), 1) as (_store, state),
        aiohttp.ClientSession() as session,
    ):
        sender = sender_to(url, session, state, clock)
        sender.contacted()  # not backing off: nothing to end
        assert not sender.wake.is_set() and sender.retry_at == 0.0
        sender.retry_at = clock.monotonic() + 5.0
        clock.advance(6.0)  # the pause is over by itself
        sender.contacted()
        assert not sender.wake.is_set() and sender.retry_at == clock.monotonic() - 1.0
        sender.retry_at = clock.monotonic() + 5.0
        sender.contacted()  # in the pause: try now
        assert sender.wake.is_set() and sender.retry_at == 0.0


async def test_a_delivered_batch_moves_the_cursor_and_ends_the_backoff(
    tmp_path: Path, engine: Engine
) -> None:
    clock = FakeClock()
    async with (
        running_node(make_home(tmp_path, "peer")) as peer,
        outbox_of(engine, 5) as (store, state),
        aiohttp.ClientSession() as session,
    ):
        url = base_url(peer)
        await state.ensure(url, SEED, 0, clock.now_ms())
        sender = sender_to(url, session, state, clock)
        sender.failures, sender.retry_at = 3, clock.monotonic() + 4.0  # as after three failures
        await sender.push_once()  # one batch holds all five
        assert (sender.failures, sender.retry_at, sender.sent) == (0, 0.0, 5)
        assert await sender.push_once() is False  # nothing more to send
        row = await state.get(url)
        assert row is not None
        assert (row.cursor, row.failures, row.error) == (5, 0, None)
        assert row.last_success == clock.now_ms()
        held = await store.live_keys((-1, b""), 100)
        assert len(held) == 5
        assert all([await peer.store.get_record(rid) for _, rid in held])
        assert await state.backlog(PEER_KEY, row.cursor) == 0
