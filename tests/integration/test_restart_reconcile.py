"""After a restart a node reconciles with its peers at once, not after its first timer.

Node B follows node A (A is in B's peers.toml; A does not list B, so A never pushes to B: B
only gets A's records by reconciling). B is stopped, N records are published at A, B is
started again. Before the fix B reconciled only when its anti-entropy timer first fired (the
interval here is 300 s: the test timed out); now it reconciles with every active peer as soon
as its index is loaded, and holds the N records within seconds.
"""

from __future__ import annotations

import time

import pytest

from tests.support import Cast, now_ms, opportunity
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

N = 20
SLOW = {"anti_entropy_interval": 300.0, "max_backoff": 300.0}
PROMPT = 8.0  # seconds: far under the 300 s interval, generous for a loaded machine


@pytest.mark.parametrize("a_lists_b", [False, True], ids=["b-follows-a", "both-ways"])
async def test_restarted_node_catches_up_in_seconds(tmp_path, api: Api, a_lists_b: bool) -> None:
    home_a = federation_home(tmp_path, "a", **SLOW)
    home_b = federation_home(tmp_path, "b", **SLOW)
    a_proc, b_proc = await start_processes([home_a, home_b])
    a, b = a_proc.url, b_proc.url
    # B's first session must find A's profile (else B lacks it until an interval of 300 s)
    await wait_for(lambda: api.holds_own_profile(a), 20.0, "A holding its own profile")
    set_peers(home_b, [a])
    if a_lists_b:
        set_peers(home_a, [b])
    await wait_for(lambda: api.converged([a, b]), 20.0, "A and B in step (B's first session)")

    b_proc.terminate()
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    records = [opportunity(cast.org, t0 + i, slug=f"while-down-{i}") for i in range(N)]
    await api.post(a, records)
    wanted = [r.id.hex() for r in records]

    b_proc.start()
    await b_proc.await_ready()
    started = time.monotonic()
    await wait_for(lambda: api.all_hold([b], wanted), PROMPT, f"B holding the {N} records")
    took = time.monotonic() - started
    print(f"\nrestarted B held the {N} records {took:.2f} s after it answered (interval 300 s)")
    assert took < PROMPT
