"""Every route, filter and page answers by identity (revision 3 proposal, docs/protocol.md
section 15.10): records signed by any of an identity's keys inside their windows are its own,
records a key signed after its rotation are not, and a fork shows the identity duplicitous."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto import SigningKey, did_from_raw
from protocol.keyevents import inception, rotation
from tests.node.test_api import Api
from tests.support import (
    alliance,
    alliance_end,
    attestation,
    make_home,
    member_profile,
    opportunity,
    org_profile,
    running_node,
)
from tests.support.sse import open_stream

NOW = time.time_ns() // 1_000_000
T = NOW - 3_600_000  # an hour ago: every record below lies between T and NOW
S = 1_000
FIRST, S0, R1, S1, R2 = (SigningKey.from_seed(bytes([0x40 + n]) * 32) for n in range(5))
MEMBER = SigningKey.from_seed(b"\x4f" * 32)
ORG = FIRST.public_key.did

ICP = inception(FIRST, S0, R1.public_key, T, cutoff=0)
ROT1 = rotation(R1, S1, FIRST.public_key.raw, 1, ICP.id, R2.public_key, T + 100 * S)
PROFILE = org_profile(S0, T + 1 * S, "Aurora Works")
DEV_OLD = opportunity(S0, T + 2 * S, slug="dev", title="Developer (old key)")
KEEP = opportunity(S0, T + 3 * S, slug="keep", title="Kept listing")
PACT = alliance(S0, MEMBER, T + 4 * S, alumni=True)
END = alliance_end(S0, PACT, T + 5 * S)
DEV_NEW = opportunity(S1, T + 200 * S, slug="dev", title="Developer (new key)")
ATTEST = attestation(S1, MEMBER, T + 201 * S, grounded_in=PACT)  # new key, old key's alliance
LATE = opportunity(S0, T + 300 * S, slug="late", title="Signed after retirement")
ABOUT_ORG = attestation(MEMBER, S0, T + 6 * S, "recommendation", text="great")
MEMBER_PROFILE = member_profile(MEMBER, T, "Aiko")

# another identity whose committed rotation key signed two rotations: duplicitous
FORK_FIRST, FS0, FR1, FS1, FS1B, FR2 = (
    SigningKey.from_seed(bytes([0x50 + n]) * 32) for n in range(6)
)
FORK_ICP = inception(FORK_FIRST, FS0, FR1.public_key, T, cutoff=0)
FORK_A = rotation(FR1, FS1, FORK_FIRST.public_key.raw, 1, FORK_ICP.id, FR2.public_key, T + 50 * S)
FORK_B = rotation(FR1, FS1B, FORK_FIRST.public_key.raw, 1, FORK_ICP.id, FR2.public_key, T + 60 * S)
FORK_PROFILE = org_profile(FS0, T + 1 * S, "Forked Ltd")

RECORDS = [
    ICP,
    ROT1,
    PROFILE,
    DEV_OLD,
    KEEP,
    PACT,
    END,
    DEV_NEW,
    ATTEST,
    LATE,
    ABOUT_ORG,
    MEMBER_PROFILE,
    FORK_ICP,
    FORK_A,
    FORK_B,
    FORK_PROFILE,
]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_node(make_home(tmp_path, "peer")) as node, aiohttp.ClientSession() as s:
        client = Api(s, node.config.public_url)
        results = await client.post_batch([r.wire for r in RECORDS])
        assert all(r.get("stored") for r in results), results
        yield client


def titles(listing: list[dict[str, Any]]) -> set[str]:
    return {o["body"]["title"] for o in listing}


async def test_opportunities_by_identity(api: Api) -> None:
    expected = {"Developer (new key)", "Kept listing"}
    for did in (ORG, S0.public_key.did, S1.public_key.did):  # any key names the identity
        listed = (await api.ok("/v1/opportunities", org=did))["opportunities"]
        assert titles(listed) == expected, did
    everything = titles((await api.ok("/v1/opportunities"))["opportunities"])
    assert expected <= everything
    assert not {"Developer (old key)", "Signed after retirement"} & everything
    assert (await api.ok("/v1/opportunities", org=ORG, q="developer"))["opportunities"]


async def test_records_by_identity(api: Api) -> None:
    authored = {r["id"] for r in (await api.ok("/v1/records", author=ORG))["records"]}
    mine = {PROFILE, DEV_OLD, KEEP, PACT, END, DEV_NEW, ATTEST}
    assert authored == {r.id.hex() for r in mine}  # not LATE, not the key events
    named = {r["id"] for r in (await api.ok("/v1/records", subject=ORG))["records"]}
    assert named == {ABOUT_ORG.id.hex()}
    literal = (await api.ok("/v1/records", author=MEMBER.public_key.did))["records"]
    assert {r["id"] for r in literal} == {r.id.hex() for r in (ABOUT_ORG, MEMBER_PROFILE)}


async def test_stream_by_identity(api: Api) -> None:
    """``author`` naming an identity (by its first key or a later one) streams what every key
    of the identity signed (its inception by the first key too); a subject likewise."""
    signers = {k.public_key.raw for k in (FIRST, S0, S1)}
    every = {r.id.hex() for r in RECORDS if r.author in signers}
    for name in (ORG, S1.public_key.did):
        async with open_stream(api.session, api.url, since="0", author=name) as stream:
            got = {e.json["id"] for e in await stream.take(len(every))}
        assert got == every, name
    async with open_stream(api.session, api.url, since="0", subject=ORG) as stream:
        (about,) = await stream.take(1)
    assert about.json["id"] == ABOUT_ORG.id.hex()


async def test_directory_alumni_member_and_reputation_by_identity(api: Api) -> None:
    orgs = (await api.ok("/v1/orgs"))["orgs"]
    assert [o["org"] for o in orgs].count(ORG) == 1
    (aurora,) = [o for o in orgs if o["org"] == ORG]
    assert aurora["profile"]["id"] == PROFILE.id.hex()
    assert aurora["counts"]["opportunity"] == 3  # both versions of "dev" and "keep"; not LATE
    document = await api.ok(f"/v1/orgs/{ORG}")
    assert titles(document["opportunities"]) == {"Developer (new key)", "Kept listing"}
    alumni = (await api.ok(f"/v1/orgs/{ORG}/alumni"))["alumni"]
    assert [(a["member"], a["alliance"]) for a in alumni] == [
        (MEMBER.public_key.did, PACT.id.hex())
    ]
    # a plain member whose organisation rotated: grounded by identity
    reputation = await api.ok(f"/v1/reputation/{MEMBER.public_key.did}")
    assert {(a["id"], a["state"]) for a in reputation["attestations"]} == {
        (ATTEST.id.hex(), "grounded")
    }
    member = await api.ok(f"/v1/members/{MEMBER.public_key.did}")
    assert [(a["org"], a["in_force"]) for a in member["alliances"]] == [(ORG, False)]
    assert member["alumni_of"] == [ORG]
    forked = await api.ok(f"/v1/orgs/{FORK_FIRST.public_key.did}")
    assert forked["keys"]["state"] == "duplicitous"
    assert forked["keys"]["duplicity"]["evidence"] == sorted([FORK_A.id.hex(), FORK_B.id.hex()])


async def test_pages_by_identity(api: Api) -> None:
    status, _, page = await api.get(f"/orgs/{ORG}")
    html = page.decode()
    assert status == 200 and "Aurora Works" in html
    assert "Developer (new key)" in html and "Kept listing" in html
    assert "Signed after retirement" not in html and "Developer (old key)" not in html
    assert "Aiko" in html  # the alumna, named
    assert 'data-keys="duplicitous"' not in html
    status, _, page = await api.get(f"/members/{MEMBER.public_key.did}")
    assert status == 200 and "Aurora Works" in page.decode()
    assert f"/v1/records/{ATTEST.id.hex()}/credential" not in page.decode()  # not this node's
    status, _, page = await api.get("/", org=ORG, status="any")
    html = page.decode()
    assert "Developer (new key)" in html and "Kept listing" in html
    assert "Developer (old key)" not in html and "Signed after retirement" not in html
    assert html.count(f'value="{ORG}"') == 1  # the organisation filter: one choice, by identity
    assert f'value="{S0.public_key.did}"' not in html
    status, _, page = await api.get(f"/orgs/{FORK_FIRST.public_key.did}")
    assert status == 200 and 'data-keys="duplicitous"' in page.decode()


def test_the_identity_is_the_first_key() -> None:
    assert did_from_raw(ICP.author) == ORG
