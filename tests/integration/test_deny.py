"""``rakuichi peers deny`` on a running node: organisations and peers are refused, live.

A and B peer with each other. On A, while it runs: denying an organisation makes A refuse its
records (403, class ``policy``) from clients and from peers alike, and denying B's URL makes
every request B signs get 403 ``policy``, so nothing reaches A from B any more. Neither needs a
restart; the URL deny still holds after one.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from node.config import load_keys
from node.transport import NodeClient, RemoteRefusal
from tests.support import Cast, did, fresh_key, member_profile, now_ms, opportunity, run_cli
from tests.support.federation import (
    Api,
    federation_home,
    in_every_process,
    line_topology,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

EFFECT_WITHIN = 5.0  # seconds: the node re-reads config.toml every second


async def deny(home, target: str) -> None:
    done = await asyncio.to_thread(run_cli, "peers", "deny", "--home", home, target)
    assert done.returncode == 0, done.stderr
    assert "denied" in done.stdout


async def refused(client: NodeClient) -> RemoteRefusal | None:
    """An empty batch signed by ``client``'s key: None while welcome, the refusal once not."""
    try:
        await client.post_records([])
    except RemoteRefusal as exc:
        return exc
    return None


async def test_deny_org_and_peer_while_running(tmp_path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in "ab"]
    a_proc, b_proc = await start_processes(homes)
    a, b = a_proc.url, b_proc.url
    line_topology(homes, [a, b])
    cast = Cast.fresh()
    t0 = now_ms() - 60_000

    welcome = opportunity(cast.org, t0, slug="before")
    await api.post(b, [welcome])
    await wait_for(lambda: api.has(a, welcome.id.hex()), 10.0, "B's record at A")

    # ----- deny an organisation: its records are refused by A, whoever brings them
    org_denied_at = time.monotonic()
    await deny(homes[0], did(cast.outsider))
    probe_key = fresh_key()  # denied after the outsider: once the probe is refused, both are
    await deny(homes[0], did(probe_key))

    async def probe_refused() -> bool:
        status, _ = await api.post_raw(a, member_profile(probe_key, now_ms()).wire)
        return status == 403

    await wait_for(probe_refused, EFFECT_WITHIN, "the organisation deny in effect")
    await in_every_process(org_denied_at)

    banned = member_profile(cast.outsider, t0 + 1, "Outsider")
    status, problem = await api.post_raw(a, banned.wire)
    assert (status, problem["class"]) == (403, "policy"), problem
    assert did(cast.outsider) in problem["detail"]
    results = await api.client(a).post_records([banned.wire, opportunity(cast.org, t0 + 2).wire])
    assert results[0]["class"] == "policy"
    assert results[1]["stored"] is True  # others' records in the same batch are still taken

    via_peer = opportunity(cast.outsider, t0 + 3, slug="via-b")
    fine = opportunity(cast.org, t0 + 4, slug="after-org-deny")
    await api.post(b, [via_peer, fine])  # B does not deny the outsider: it pushes both to A
    await wait_for(lambda: api.has(a, fine.id.hex()), 10.0, "B's push after the org deny")
    for record in (banned, via_peer):
        assert not await api.has(a, record.id.hex()), "a denied organisation's record stored"
    assert await api.has(b, via_peer.id.hex())

    # ----- deny the peer B by URL: B's signed requests get 403 policy
    a_as_b = NodeClient(a, api.session, signer=load_keys(homes[1]).node)
    assert await refused(a_as_b) is None
    denied_at = time.monotonic()
    await deny(homes[0], b)
    refusal = await wait_for(lambda: refused(a_as_b), EFFECT_WITHIN, "the peer deny in effect")
    took = time.monotonic() - denied_at
    await in_every_process(denied_at)
    assert (refusal.status, refusal.klass) == (403, "policy"), refusal
    assert a_proc.running and a_proc.starts == 1, "the deny must not need a restart"
    print(f"deny: peer deny in effect {took:.1f} s after the command")

    after = opportunity(cast.org, t0 + 5, slug="after-peer-deny")
    posted_ms = now_ms()
    await api.post(b, [after])

    async def b_refused_twice() -> dict | None:
        row = await api.peer_row(b, a)
        if row and row["failures"] >= 2 and (row["last_error"] or 0) >= posted_ms:
            return row
        return None

    row = await wait_for(b_refused_twice, 15.0, "B's pushes to A refused")
    assert "403" in row["error"] and "policy" in row["error"], row
    assert not await api.has(a, after.id.hex()), "a denied peer's push was stored"
    a_table = await api.get_json(f"{a}/v1/peers")
    assert all(p["url"] != b or not p["active"] for p in a_table["peers"])

    # ----- the deny outlives a restart of A
    a_proc.terminate()
    a_proc.start()
    await a_proc.await_ready()
    restarted_ms = now_ms()
    refusal = await refused(a_as_b)
    assert refusal is not None and (refusal.status, refusal.klass) == (403, "policy"), (
        "after a restart, A accepts requests signed by the peer it denied"
    )
    status, problem = await api.post_raw(a, banned.wire)
    assert (status, problem["class"]) == (403, "policy")

    async def b_refused_again() -> dict | None:  # B still holds `after` for A and retries
        row = await api.peer_row(b, a)
        return row if row and (row["last_error"] or 0) >= restarted_ms else None

    row = await wait_for(b_refused_again, 15.0, "B's push refused after A's restart")
    assert "403" in row["error"] and "policy" in row["error"], row
    assert not await api.has(a, after.id.hex()), "a denied peer's push stored after a restart"
