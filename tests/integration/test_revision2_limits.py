"""Two limits of docs/protocol.md section 14, with real node processes (revision 2):

- a run of near-maximal records never stalls a sender: push and anti-entropy batches stay
  within the body limit the peer advertises in ``/.well-known/rakuichi``;
- a peer that rotated its node key is re-learned without an operator.
"""

from __future__ import annotations

import pytest

from crypto import SigningKey, did_from_raw, save_signing_key
from tests.support import Cast, now_ms, unknown_kind
from tests.support.federation import (
    Api,
    federation_home,
    line_topology,
    set_peers,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

WITHIN = 40.0  # seconds; a few on an idle 2-core machine
SMALL_BODY = 300_000  # B takes request bodies up to this: five near-maximal records


async def test_near_maximal_records_reach_a_peer_with_a_small_body_limit(
    tmp_path, api: Api
) -> None:
    homes = [
        federation_home(tmp_path, "a"),
        federation_home(tmp_path, "b", max_body_bytes=SMALL_BODY),
    ]
    procs = await start_processes(homes)
    a, b = (p.url for p in procs)
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    run = [unknown_kind(cast.outsider, t0 + i, note=f"{i:03d}" + "x" * 60_000) for i in range(14)]
    assert sum(len(r.wire) for r in run) > 2.5 * SMALL_BODY
    await api.post(a, run)  # held at A before A knows B: anti-entropy carries them
    line_topology(homes, [a, b])
    ids = [r.id.hex() for r in run]
    await wait_for(lambda: api.all_hold([b], ids), WITHIN, "the run at B (anti-entropy)")
    more = [unknown_kind(cast.outsider, t0 + 100 + i, note="y" * 60_000) for i in range(14)]
    await api.post(a, more)  # now A pushes them
    await wait_for(
        lambda: api.all_hold([b], [r.id.hex() for r in more]), WITHIN, "the second run at B"
    )
    row = await api.peer_row(a, b)
    assert row is not None and row["failures"] == 0, row


async def test_a_peer_that_rotated_its_node_key_is_relearned(tmp_path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in "ab"]
    procs = await start_processes(homes)
    a, b = (p.url for p in procs)
    line_topology(homes, [a, b])
    old = procs[1].wait_ready()["node"]

    async def a_knows_b_as(key: str) -> bool:
        row = await api.peer_row(a, b)
        return bool(row and row["node"] == key)

    await wait_for(lambda: a_knows_b_as(old), WITHIN, "A learning B's node key")
    assert procs[1].terminate() == 0
    new_key = SigningKey.generate()
    (homes[1] / "node.key").unlink()
    save_signing_key(homes[1] / "node.key", new_key)
    set_peers(homes[1], [a])
    procs[1].start()
    await procs[1].await_ready(20.0)
    new = did_from_raw(new_key.public_key.raw)
    assert procs[1].wait_ready()["node"] == new != old
    await wait_for(lambda: a_knows_b_as(new), WITHIN, "A re-learning B's new node key")
    # and B's records keep reaching A, signed with the new key
    record = unknown_kind(Cast.fresh().outsider, now_ms() - 1000, note="after rotation")
    await api.post(b, [record])
    await wait_for(lambda: api.has(a, record.id.hex()), WITHIN, "a record from B at A")
