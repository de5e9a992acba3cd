"""Revision 2 on the command line, against a real node: an organisation proposes a supplier
alliance to another organisation, which co-signs with its own org.key; replies by members and
organisations (refused where they would have no effect); ``retract`` of an id the node does
not hold refuses unless ``--force``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from crypto import load_signing_key
from node.service import Node
from tests.node.test_alliance_rules import cli, one_line_failure, wallet
from tests.node.test_api import Api
from tests.support import (
    Cast,
    alliance,
    attestation,
    base_url,
    did,
    fresh_key,
    make_home,
    now_ms,
    org_did,
    running_node,
)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


@pytest.fixture
async def api(node: Node) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, base_url(node))


def _published_id(stdout: str, kind: str) -> str:
    match = re.search(rf"published {re.escape(kind)} ([0-9a-f]{{64}})", stdout)
    assert match, stdout
    return match.group(1)


async def test_supplier_alliance_signed_with_another_organisations_key(
    tmp_path: Path, node: Node, api: Api
) -> None:
    other_home = make_home(tmp_path, "birch")  # another organisation: its org.key signs
    other_key = load_signing_key(other_home / "org.key")
    proposed = await cli(
        "alliance",
        "propose",
        "--home",
        node.config.home,
        "--relation",
        "supplier",
        "--member",
        did(other_key),
        "--tour",
        "rotational",
        "--mission",
        "Supply the parts for the relaunch.",
        "--starts",
        "2026-01-05",
        "--no-alumni",
    )
    assert proposed.returncode == 0, proposed.stderr
    assert "(supplier)" in proposed.stdout
    url = re.search(r"rakuichi member sign (\S+)", proposed.stdout)
    assert url, proposed.stdout
    signed = await cli("member", "sign", url.group(1), "--wallet", other_home / "org.key", "--yes")
    assert signed.returncode == 0, signed.stderr
    assert "relation      supplier" in signed.stdout
    assert re.search(
        r"supplier\s+" + re.escape(did(other_key)) + r" \(this wallet\)", signed.stdout
    )
    shown = (await api.ok(f"/v1/orgs/{org_did(node)}"))["alliances_by_relation"]
    (entry,) = shown["in_force"]["supplier"]
    assert (entry["org"], entry["member"]) == (org_did(node), did(other_key))


async def test_member_and_organisation_replies(tmp_path: Path, node: Node, api: Api) -> None:
    cast = Cast.fresh()
    org = node.keys.org
    member = cast.member
    t0 = now_ms() - 60_000
    pact = alliance(org, member, t0)
    about_member = attestation(org, member, t0 + 1, "recommendation", pact, text="Late, twice.")
    about_org = attestation(member, org, t0 + 2, "rating", pact, score=2)
    await api.publish(pact, about_member, about_org)
    mine = wallet(tmp_path, member, "member")
    url = base_url(node)

    answered = await cli(
        "member",
        "reply",
        about_member.id.hex(),
        "--text",
        "Trains.",
        "--wallet",
        mine,
        "--node",
        url,
    )
    assert answered.returncode == 0, answered.stderr
    reply_id = _published_id(answered.stdout, "reply")
    rep = await api.ok(f"/v1/reputation/{did(member)}")
    assert rep["attestations"][0]["reply"]["id"] == reply_id

    # the member is not the subject of the rating they gave: refused, nothing published
    line = one_line_failure(
        await cli(
            "member", "reply", about_org.id.hex(), "--text", "x", "--wallet", mine, "--node", url
        )
    )
    assert "only its subject may reply" in line
    # a target the node does not hold: refused unless --force
    missing = "ab" * 32
    line = one_line_failure(
        await cli("member", "reply", missing, "--text", "x", "--wallet", mine, "--node", url)
    )
    assert "does not hold" in line and "--force" in line
    forced = await cli(
        "member", "reply", missing, "--text", "x", "--wallet", mine, "--node", url, "--force"
    )
    assert forced.returncode == 0, forced.stderr

    # the organisation answers the rating about it, with its node home
    org_answer = await cli(
        "reply", "--home", node.config.home, about_org.id.hex(), "--text", "Fixed since."
    )
    assert org_answer.returncode == 0, org_answer.stderr
    rep = await api.ok(f"/v1/reputation/{org_did(node)}")
    assert rep["attestations"][0]["reply"]["text"] == "Fixed since."


async def test_retract_of_an_id_the_node_does_not_hold_needs_force(
    tmp_path: Path, node: Node, api: Api
) -> None:
    missing = "cd" * 32
    line = one_line_failure(await cli("retract", "--home", node.config.home, missing))
    assert "does not hold" in line and "--force" in line
    assert await api.all_records(kind="retract") == []
    forced = await cli("retract", "--home", node.config.home, missing, "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(await api.all_records(kind="retract")) == 1

    someone = fresh_key()
    theirs = attestation(someone, node.keys.org, now_ms() - 1000, "recommendation")
    await api.publish(theirs)
    line = one_line_failure(await cli("retract", "--home", node.config.home, theirs.id.hex()))
    assert "only its author can retract it" in line
    member = wallet(tmp_path, someone, "someone")
    line = one_line_failure(
        await cli("member", "retract", missing, "--wallet", member, "--node", base_url(node))
    )
    assert "does not hold" in line
