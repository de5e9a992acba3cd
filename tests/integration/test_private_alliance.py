"""A private alliance with real node processes A and B, peered: A's organisation proposes it
with ``--private``, the member co-signs, A ends it and attests the member, all through the
``rakuichi`` console script. None of it ever reaches B — not by id, not in listings, not by
reconciliation (B's database never holds it) — and A shows it to nobody but the two parties;
yet the member's bundle, which carries it, verifies offline and at B, and B stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from crypto import SigningKey, load_signing_key
from node.config import load_config, load_keys
from node.transport import NodeClient, RemoteRefusal, timeouts
from protocol import Initiator, MemoryItemSet
from tests.support import fresh_key, run_cli
from tests.support.federation import (
    Api,
    federation_home,
    node_count,
    set_peers,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

DRAFT_URL = re.compile(r"https?://\S+/v1/drafts/([0-9a-f]{64})")
PUBLISHED = re.compile(r"published (\S+) ([0-9a-f]{64}) \(")


async def cli(*args: str | Path) -> str:
    done: subprocess.CompletedProcess[str] = await asyncio.to_thread(run_cli, *args)
    assert done.returncode == 0, f"rakuichi {' '.join(map(str, args))}\n{done.stderr}"
    return done.stdout


async def published(*args: str | Path) -> str:
    out = await cli(*args)
    match = PUBLISHED.search(out)
    assert match, out
    return match.group(2)


async def every_id(url: str) -> set[bytes]:
    """Every id the node at ``url`` offers to reconciliation (a session from an empty set)."""
    async with aiohttp.ClientSession(timeout=timeouts(total=20)) as session:
        node = NodeClient(url, session)
        session_ = Initiator(MemoryItemSet())
        message: bytes | None = session_.start()
        while message is not None:
            message = session_.receive(await node.sync(message))
        return set(session_.have)


async def status_signed(url: str, path: str, key: SigningKey | None) -> int:
    async with aiohttp.ClientSession(timeout=timeouts(total=10)) as session:
        node = NodeClient(url, session, signer=key)
        try:
            await node._json(path)
        except RemoteRefusal as exc:
            return exc.status
        return 200


async def test_a_private_alliance_stays_between_its_parties(tmp_path: Path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in ("aurora", "birch")]
    a, b = (load_config(home).public_url for home in homes)
    set_peers(homes[0], [b])
    set_peers(homes[1], [a])
    await start_processes(homes)
    home_a = homes[0]
    org = load_keys(home_a, None).org
    wallet = tmp_path / "aiko.key"
    await cli("member", "init", "--wallet", wallet, "--no-passphrase")
    member = load_signing_key(wallet, None)
    me = member.public_key.did

    proposed = await cli(
        "alliance", "propose", "--home", home_a, "--member", me, "--tour", "rotational",
        "--mission", "Quietly fix the billing system", "--starts", "2026-01-05", "--private",
    )  # fmt: skip
    assert "private: kept by this node and the member's wallet" in proposed
    match = DRAFT_URL.search(proposed)
    assert match, proposed
    draft_url, alliance = match.group(0), match.group(1)
    signed = await cli("member", "sign", draft_url, "--wallet", wallet, "--yes")
    assert "private       yes" in signed and f"signed alliance {alliance}" in signed
    assert (tmp_path / "aiko.key.records" / f"{alliance}.bin").exists()
    end = await published("alliance", "end", "--home", home_a, alliance, "--outcome", "completed")
    skill = await published(
        "attest", "--home", home_a, "--subject", me, "--claim", "skill", "--skill", "cobol",
        "--level", "5", "--alliance", alliance,
    )  # fmt: skip
    private = {alliance, end, skill}
    # a public record published after them reaches B: replication runs, and has had its chance
    public = await published(
        "publish", "opportunity", "--home", home_a, "--slug", "open-role", "--title", "Open role",
        "--tour", "rotational", "--status", "open",
    )  # fmt: skip
    await wait_for(lambda: api.all_hold([b], [public]), 20.0, "the public record reaches B")
    await asyncio.sleep(2.5)  # a few more push and anti-entropy rounds (1 s each)

    for url in (a, b):  # not by id, not in listings, not in reconciliation
        for rid in private:
            assert not await api.has(url, rid), (url, rid)
        assert private.isdisjoint(await api.record_ids(url)), url
        assert private.isdisjoint(i.hex() for i in await every_id(url)), url
    ids = [bytes.fromhex(i) for i in private]
    in_records = "SELECT count(*) FROM records WHERE id IN (?, ?, ?)"
    assert await node_count(homes[1], in_records, ids) == 0
    assert await node_count(homes[1], "SELECT count(*) FROM private_records") == 0

    # A serves them to the two parties alone, by signed requests
    for rid in private:
        assert await status_signed(a, f"/v1/records/{rid}", member) == 200
        assert await status_signed(a, f"/v1/records/{rid}", org) == 200
        assert await status_signed(a, f"/v1/records/{rid}", fresh_key()) == 404
        assert await status_signed(a, f"/v1/records/{rid}", None) == 404
        assert await status_signed(b, f"/v1/records/{rid}", member) == 404
    assert await status_signed(a, f"/v1/private/{me}", member) == 200
    assert await status_signed(a, f"/v1/private/{me}", fresh_key()) == 403
    assert await status_signed(a, f"/v1/private/{me}", None) == 401
    assert await status_signed(a, f"/v1/records/{skill}/credential", member) == 200
    assert await status_signed(a, f"/v1/records/{skill}/credential", None) == 404
    public_rep = await api.get_json(f"{a}/v1/reputation/{me}")
    assert public_rep["attestations"] == []

    # the member carries them: the bundle holds them, verifies offline and at B, stored nowhere
    bundle = tmp_path / "me.bundle"
    await cli("member", "export", "--wallet", wallet, "--node", a, "--out", bundle)
    held = {e["view"]["id"] for e in json.loads(bundle.read_text())["records"]}
    assert private <= held
    checked = await cli("verify", bundle)
    assert "every record checks" in checked
    assert re.search(
        rf"grounded\s+skill: cobol\s+by \S+ \({re.escape(org.public_key.did)}\)", checked
    )
    at_b = await cli("member", "present", bundle, "--node", b)
    assert f"{b} checked" in at_b and "nothing was stored there" in at_b
    assert re.search(rf"grounded\s+{skill}", at_b), at_b
    for rid in private:
        assert not await api.has(b, rid)
    assert private.isdisjoint(i.hex() for i in await every_id(b))
