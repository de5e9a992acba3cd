"""Any successful contact with a peer ends the backoff towards it."""

from __future__ import annotations

import time

import pytest

from node.config import load_config
from tests.support import Cast, now_ms, opportunity
from tests.support.federation import (
    federation_home,
    running_federation,
    set_peers,
    wait_for,
)

pytestmark = pytest.mark.slow


async def test_a_peer_that_reaches_us_ends_our_backoff(tmp_path) -> None:
    a_home = federation_home(tmp_path, "a", anti_entropy_interval=3600.0)
    b_home = federation_home(tmp_path, "b", anti_entropy_interval=3600.0)
    a_url = load_config(a_home).public_url
    b_url = load_config(b_home).public_url
    set_peers(a_home, [b_url])
    set_peers(b_home, [a_url])
    async with running_federation(a_home) as a:
        assert a.federation is not None
        sender = a.federation.senders[b_url]

        async def a_failed_towards_b() -> bool:
            return sender.failures >= 1

        await wait_for(a_failed_towards_b, 10.0, "A's first failed push to B (B is down)")
        sender.retry_at = time.monotonic() + 3600  # as if A had backed off for an hour
        record = opportunity(Cast.fresh().org, now_ms() - 1000, slug="after-the-outage")
        await a.node.ingestor.submit([record.wire])
        async with running_federation(b_home) as b:  # B starts and pushes its profile to A

            async def b_has_it() -> bool:
                return (
                    await b.node.store.reader.execute_fetchall(
                        "SELECT 1 FROM records WHERE id = ?", (record.id,)
                    )
                    != []
                )

            started = time.monotonic()
            await wait_for(b_has_it, 10.0, "A's record at B once B reached A")
            assert time.monotonic() - started < 10.0
            assert sender.retry_at < time.monotonic() + 60
