"""Key succession with real node processes (issue 14, revision 3 proposal).

Node A's organisation has a key history from ``rakuichi init``; B is its peer. The organisation
publishes, allies with a member, ends the tour with the alumni clause and attests the member;
then it rotates its key twice while A runs. On B its opportunities, alliances and alumni stay
whole under its one identity; a record signed afterwards with its first signing key is not
attributed; an attacker holding the current signing key but not the committed rotation key
cannot rotate; the member rotates their wallet and a bundle made afterwards verifies,
attestations from before the rotation included. Filters answer by identity on B (``?org=``,
``?author=``, the board), and a credential that A makes after the rotations verifies offline
by the organisation's did:key.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from crypto import SigningKey, load_signing_key, raw_from_did, save_signing_key
from node.config import load_config
from protocol.builder import sign_record
from protocol.keyevents import rotation
from tests.support import run_cli
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = pytest.mark.slow

WITHIN = 30.0  # seconds; replication takes about one
DRAFT_URL = re.compile(r"https?://\S+/v1/drafts/([0-9a-f]{64})")
PUBLISHED = re.compile(r"published (\S+) ([0-9a-f]{64}) \(")


async def rakuichi(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = await asyncio.to_thread(run_cli, *args)
    if ok:
        assert done.returncode == 0, f"rakuichi {' '.join(map(str, args))}\n{done.stderr}"
    return done


async def published(*args: str | Path) -> str:
    out = (await rakuichi(*args)).stdout
    match = PUBLISHED.search(out)
    assert match, out
    return match.group(2)


def opportunity_args(home: Path, slug: str) -> list[str | Path]:
    return [
        "publish",
        "opportunity",
        "--home",
        home,
        "--slug",
        slug,
        "--title",
        slug.title(),
        "--tour",
        "rotational",
        "--status",
        "open",
    ]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_rotations_keep_the_identity_whole(tmp_path: Path, api: Api) -> None:
    home_a = federation_home(tmp_path, "aurora", key_events=True)
    home_b = federation_home(tmp_path, "birch")
    a, b = (load_config(h).public_url for h in (home_a, home_b))
    set_peers(home_a, [b])
    set_peers(home_b, [a])
    await start_processes([home_a, home_b])
    known = await api.get_json(f"{a}/.well-known/rakuichi")
    org, first_signing = known["org"], known["key"]
    assert org != first_signing  # the identity is the first key; it signs with another

    # before any rotation: an opportunity, an alliance with a member, its end, an attestation
    await published(*opportunity_args(home_a, "first-tour"))
    wallet = tmp_path / "aiko.key"
    await rakuichi("member", "init", "--wallet", wallet, "--no-passphrase")
    member = (await rakuichi("member", "whoami", "--wallet", wallet)).stdout.strip()
    proposed = (
        await rakuichi(
            "alliance",
            "propose",
            "--home",
            home_a,
            "--member",
            member,
            "--tour",
            "rotational",
            "--mission",
            "Ship the federation",
            "--starts",
            "2026-01-05",
            "--alumni",
        )
    ).stdout
    match = DRAFT_URL.search(proposed)
    assert match, proposed
    alliance = match.group(1)
    await rakuichi("member", "sign", match.group(0), "--wallet", wallet, "--yes")
    await published("alliance", "end", "--home", home_a, alliance, "--outcome", "completed")
    before = await published(
        "attest",
        "--home",
        home_a,
        "--subject",
        member,
        "--claim",
        "skill",
        "--skill",
        "go",
        "--alliance",
        alliance,
    )
    stolen_first = load_signing_key(home_a / "org.key")  # a copy a thief keeps

    # two rotations while A runs: A picks each new key up by itself
    for step in (1, 2):
        await rakuichi("keys", "rotate", "--home", home_a)

        async def a_signs_with_new_key(step: int = step) -> bool:
            now = await api.get_json(f"{a}/.well-known/rakuichi")
            keys = await api.get_json(f"{a}/v1/keys/{org}")
            return now["key"] != first_signing and keys["history"]["seq"] == step

        await wait_for(a_signs_with_new_key, WITHIN, f"A signing after rotation {step}")
    current = (await api.get_json(f"{a}/.well-known/rakuichi"))["key"]
    assert (await api.get_json(f"{a}/.well-known/rakuichi"))["org"] == org
    await published(*opportunity_args(home_a, "second-tour"))

    # on B, everything the organisation signed with any of its keys is its own
    async def whole_on_b() -> dict[str, Any] | None:
        keys = await api.get_json(f"{b}/v1/keys/{org}")
        if (keys["history"] or {}).get("current") != current:
            return None
        document = await api.get_json(f"{b}/v1/orgs/{org}")
        slugs = {o["body"]["slug"] for o in document["opportunities"]}
        return document if slugs == {"first-tour", "second-tour"} else None

    document = await wait_for(whole_on_b, WITHIN, "the organisation whole on B")
    assert document["org"] == org and document["profile"]["author"] == current
    assert document["counts"]["alliance"] == 1 and document["counts"]["attestation"] == 1
    signing_keys = [k["key"] for k in document["keys"]["keys"]]
    assert len(signing_keys) == 4 and signing_keys[1] == first_signing  # [first key, S0, S1, S2]
    assert signing_keys[-1] == current and signing_keys[0] == org
    alumni = await api.get_json(f"{b}/v1/orgs/{org}/alumni")
    assert [(x["member"], x["alliance"]) for x in alumni["alumni"]] == [(member, alliance)]
    assert (await api.get_json(f"{b}/v1/orgs/{first_signing}"))["org"] == org

    # a record signed with the first signing key after the rotations is not the organisation's
    ghost = sign_record(
        stolen_first,
        "opportunity",
        now_ms(),
        {"slug": "ghost", "title": "Ghost", "tour": "rotational", "status": "open"},
    )
    await api.post(b, [ghost])
    document = await api.get_json(f"{b}/v1/orgs/{org}")
    assert "ghost" not in {o["body"]["slug"] for o in document["opportunities"]}
    listed = (await api.get_json(f"{b}/v1/opportunities"))["opportunities"]
    assert {"first-tour", "second-tour"} <= {o["body"]["slug"] for o in listed}
    assert "ghost" not in {o["body"]["slug"] for o in listed}
    directory = (await api.get_json(f"{b}/v1/orgs"))["orgs"]
    assert [o["org"] for o in directory].count(org) == 1  # once, under its identity

    # filters by identity on B: every key of the organisation, never the ghost
    by_org = (await api.get_json(f"{b}/v1/opportunities?org={org}"))["opportunities"]
    assert {o["body"]["slug"] for o in by_org} == {"first-tour", "second-tour"}
    assert {o["author"] for o in by_org} == {first_signing, current}
    authored = (await api.get_json(f"{b}/v1/records?author={org}&limit=500"))["records"]
    assert ghost.id.hex() not in {r["id"] for r in authored}
    assert {before, alliance} <= {r["id"] for r in authored}
    async with api.session.get(f"{b}/", params={"org": org, "status": "any"}) as response:
        board = await response.text()
    assert "First-Tour" in board and "Second-Tour" in board and "Ghost" not in board

    # a credential made after the rotations (proved by the key A holds now) verifies offline
    # by the organisation's did:key, with the key events it carries
    credential = tmp_path / "before.json"
    async with api.session.get(f"{a}/v1/records/{before}/credential") as response:
        assert response.status == 200
        credential.write_bytes(await response.read())
    checked = (await rakuichi("verify-credential", credential)).stdout
    assert f"signed with {current}, a key of the issuer {org}" in checked
    assert "by the 3 key event(s) it carries" in checked and f"record   {before}" in checked

    # an attacker with the current signing key but not the committed rotation key
    thief_home = tmp_path / "thief"
    shutil.copytree(home_a, thief_home, ignore=shutil.ignore_patterns("*.next", "*.db*"))
    refused = await rakuichi("keys", "rotate", "--home", thief_home, ok=False)
    assert refused.returncode == 1 and "no committed rotation key" in refused.stderr
    guess = tmp_path / "guess.key"
    save_signing_key(guess, SigningKey.generate())
    refused = await rakuichi("keys", "rotate", "--home", thief_home, "--next", guess, ok=False)
    assert "not the rotation key the identity committed to" in refused.stderr
    stolen_current = load_signing_key(thief_home / "org.key")
    history = (await api.get_json(f"{b}/v1/keys/{org}"))["history"]
    forged = rotation(
        stolen_current,
        SigningKey.generate(),
        _raw(org),
        3,
        bytes.fromhex(history["events"][-1]),
        SigningKey.generate().public_key,
        now_ms(),
    )
    await api.post(b, [forged])
    after = (await api.get_json(f"{b}/v1/keys/{org}"))["history"]
    assert after["current"] == current and after["seq"] == 2
    assert after["rejected"] == {forged.id.hex(): "not-committed"}

    # the member rotates their wallet; a bundle made afterwards still verifies
    await rakuichi("member", "keys", "rotate", "--wallet", wallet, "--node", b)
    await rakuichi("member", "keys", "rotate", "--wallet", wallet, "--node", b)
    assert (await rakuichi("member", "whoami", "--wallet", wallet)).stdout.strip() == member
    wallet_key = load_signing_key(wallet).public_key.did
    pub = wallet.with_name(wallet.name + ".pub").read_text().splitlines()
    assert pub == [member, f"key {wallet_key}"] and wallet_key != member
    view = await api.get_json(f"{b}/v1/members/{member}")
    assert view["keys"]["seq"] == 1
    assert [(x["id"], x["org"], x["in_force"]) for x in view["alliances"]] == [
        (alliance, org, False)
    ]
    assert view["alumni_of"] == [org]

    # after the rotation: a new alliance proposed to the member's identity, co-signed with the
    # wallet's new key, and ended by the member (a party by identity)
    async def a_knows_the_member() -> bool:
        history = (await api.get_json(f"{a}/v1/keys/{member}"))["history"]
        return bool(history and history["seq"] == 1)

    await wait_for(a_knows_the_member, WITHIN, "A holding the member's key events")
    proposed = (
        await rakuichi(
            "alliance",
            "propose",
            "--home",
            home_a,
            "--member",
            member,
            "--tour",
            "foundational",
            "--mission",
            "Second tour",
            "--starts",
            "2026-12-01",
        )
    ).stdout
    assert f"member {member} signs with" in proposed
    match = DRAFT_URL.search(proposed)
    assert match, proposed
    second = match.group(1)
    await rakuichi("member", "sign", match.group(0), "--wallet", wallet, "--yes")
    await published(
        "member", "end", "--wallet", wallet, "--node", a, second, "--outcome", "ended-early"
    )

    async def both_alliances_on_b() -> bool:
        view = await api.get_json(f"{b}/v1/members/{member}")
        got = {(x["id"], x["org"], x["in_force"]) for x in view["alliances"]}
        return got == {(alliance, org, False), (second, org, False)}

    await wait_for(both_alliances_on_b, WITHIN, "both alliances of the member ended, on B")
    bundle = tmp_path / "bundle.json"
    async with api.session.get(f"{b}/v1/reputation/{member}/bundle") as response:
        assert response.status == 200
        bundle.write_bytes(await response.read())
    checked = (await rakuichi("verify", bundle)).stdout
    assert "every record checks" in checked and before in checked
    async with api.session.post(f"{a}/v1/reputation/verify", data=bundle.read_bytes()) as resp:
        report = await resp.json()
    assert report["ok"] and report["reputation"]["subject"] == member
    (entry,) = report["reputation"]["attestations"]
    assert (entry["id"], entry["state"], entry["issuer"]) == (before, "grounded", org)


def _raw(did: str) -> bytes:
    return raw_from_did(did)
