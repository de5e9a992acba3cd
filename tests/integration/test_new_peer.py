"""A new node gets pushed to once its organisation's profile names its URL (protocol §11).

B lists A as its only seed; A knows nothing of B. When B starts it publishes its profile
(its URL and node key in ``nodes``) and pushes it to A; A learns B from that profile and from
then on pushes its own new records to B. B never pulls here (its anti-entropy timer is an
hour), so what reaches B was pushed by A.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from tests.support import Cast, now_ms, opportunity
from tests.support.federation import (
    Api,
    federation_home,
    http_session,
    running_federation,
    set_peers,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]


async def test_a_node_that_announces_itself_receives_pushes(tmp_path: Path) -> None:
    a_home = federation_home(tmp_path, "a", learn_peers=True, anti_entropy_interval=3600.0)
    b_home = federation_home(tmp_path, "b", anti_entropy_interval=3600.0)
    a_url = load_config(a_home).public_url
    b_url = load_config(b_home).public_url
    set_peers(b_home, [a_url])

    async with (
        running_federation(a_home) as a,
        running_federation(b_home),
        http_session() as session,
    ):
        api = Api(session)

        async def a_lists_b_as_active() -> dict | None:
            row = await api.peer_row(a_url, b_url)
            return row if row and row["active"] and row["source"] == "learned" else None

        await wait_for(a_lists_b_as_active, 15.0, "B learned by A from B's profile")

        record = opportunity(Cast.fresh().org, now_ms() - 1000, slug="for-the-new-peer")
        outcomes = await a.node.ingestor.submit([record.wire])
        assert outcomes[0].stored
        await wait_for(lambda: api.has(b_url, record.id.hex()), 15.0, "A's record pushed to B")
