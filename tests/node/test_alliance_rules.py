"""Alliance rules at one node (in process): drafts stay drafts, co-signatures cover the exact
terms, only the parties end an alliance, and the CLI's checks fail loudly (exit 1, one line).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto import SigningKey, save_signing_key, sha256
from node.service import Node
from node.transport import NodeClient, timeouts
from protocol import kinds
from protocol.builder import Draft
from protocol.errors import SignatureError
from protocol.record import Record
from tests.support import (
    REPO_ROOT,
    alliance_end,
    attestation,
    base_url,
    did,
    fresh_key,
    make_home,
    now_ms,
    org_did,
    org_profile,
    rakuichi_command,
    raw,
    running_node,
    subprocess_env,
)

MSGPACK = "application/msgpack"
DRAFT_URL = re.compile(r"https?://\S+/v1/drafts/[0-9a-f]{64}")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=timeouts(total=10)) as session:
        yield session


def draft_for(org: SigningKey, member: SigningKey, **extra: Any) -> Draft:
    """An alliance draft signed by the organisation only."""
    body = {
        "member": raw(member),
        "tour": "rotational",
        "mission": "Ship the new search.",
        "starts": now_ms() - 1000,
        "alumni": True,
        **extra,
    }
    return Draft.new(kinds.ALLIANCE, raw(org), now_ms() - 1000, body).sign(org)


async def status_of(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    data: bytes | None = None,
    ctype: str = MSGPACK,
) -> tuple[int, Any]:
    headers = {"Content-Type": ctype} if data is not None else {}
    async with http.request(method, url, data=data, headers=headers) as answer:
        body = await answer.read()
        try:
            return answer.status, json.loads(body)
        except ValueError:
            return answer.status, body


async def in_force(http: aiohttp.ClientSession, url: str, member: SigningKey) -> dict[str, bool]:
    _, answer = await status_of(http, "GET", f"{url}/v1/members/{did(member)}")
    return {a["id"]: a["in_force"] for a in answer["alliances"]}


async def cli(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The console script in a child process, without blocking the node's event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [*rakuichi_command(), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=subprocess_env(),
        cwd=REPO_ROOT,
        check=False,
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rakuichi "), result.stderr
    return lines[0]


def wallet(tmp_path: Path, key: SigningKey, name: str) -> Path:
    path = tmp_path / f"{name}.key"
    save_signing_key(path, key)
    return path


async def test_a_draft_is_never_served_as_an_alliance(
    node: Node, http: aiohttp.ClientSession
) -> None:
    url, member = base_url(node), fresh_key()
    draft = draft_for(node.keys.org, member)
    status, answer = await status_of(http, "POST", f"{url}/v1/drafts", draft.wire)
    assert status == 201, answer
    assert answer["id"] == draft.id.hex()
    assert answer["url"] == f"{url}/v1/drafts/{draft.id.hex()}"
    assert answer["missing"] == [did(member)]

    # kept for the member only: not a record, not in any view, not offered to peers
    assert (await status_of(http, "GET", f"{url}/v1/records/{draft.id.hex()}"))[0] == 404
    _, listing = await status_of(http, "GET", f"{url}/v1/records?kind=alliance")
    assert listing["records"] == []
    assert await in_force(http, url, member) == {}
    assert await NodeClient(url, http).fetch([draft.id]) == []
    # an incomplete alliance is not a record either
    status, problem = await status_of(http, "POST", f"{url}/v1/records", draft.wire)
    assert (status, problem["class"]) == (422, "signature")
    _, shown = await status_of(http, "GET", f"{url}/v1/drafts/{draft.id.hex()}")
    assert shown["signed"] is False and shown["missing"] == [did(member)]

    # once the member co-signs, the same id is an alliance in force
    complete = draft.sign(member).finish()
    assert (await status_of(http, "POST", f"{url}/v1/records", complete.wire))[0] == 201
    assert await in_force(http, url, member) == {draft.id.hex(): True}
    _, shown = await status_of(http, "GET", f"{url}/v1/drafts/{draft.id.hex()}")
    assert shown["signed"] is True


async def test_a_record_co_signed_over_different_terms_is_refused(
    node: Node, http: aiohttp.ClientSession
) -> None:
    url, member = base_url(node), fresh_key()
    draft = draft_for(node.keys.org, member)
    changed = Draft.new(
        draft.kind,
        draft.author,
        draft.created,
        {**draft.body, "mission": "Something else entirely."},
    )
    member_sig = member.sign(changed.signing_input)
    org_sig = dict(draft.sigs)[raw(node.keys.org)]
    for body in (draft.body, changed.body):  # either body: one signature does not cover it
        forged = Record.build(
            kinds.ALLIANCE,
            draft.author,
            draft.created,
            body,
            [(raw(node.keys.org), org_sig), (raw(member), member_sig)],
        )
        status, problem = await status_of(http, "POST", f"{url}/v1/records", forged.wire)
        assert (status, problem["class"]) == (422, "signature"), problem
    with pytest.raises(SignatureError):
        draft.add_signature(raw(member), member_sig)
    assert await in_force(http, url, member) == {}


async def test_an_end_by_a_third_party_has_no_effect(
    node: Node, http: aiohttp.ClientSession
) -> None:
    url, member, outsider = base_url(node), fresh_key(), fresh_key()
    agreed = draft_for(node.keys.org, member).sign(member).finish()
    own_did = org_did(node)
    assert (await status_of(http, "POST", f"{url}/v1/records", agreed.wire))[0] == 201
    for stranger in (outsider, fresh_key()):
        end = alliance_end(stranger, agreed, now_ms())
        status, _ = await status_of(http, "POST", f"{url}/v1/records", end.wire)
        assert status == 201  # a valid record, kept, but of no effect, ever
    assert await in_force(http, url, member) == {agreed.id.hex(): True}
    _, alumni = await status_of(http, "GET", f"{url}/v1/orgs/{own_did}/alumni")
    assert alumni["alumni"] == []

    by_member = alliance_end(member, agreed, now_ms())
    assert (await status_of(http, "POST", f"{url}/v1/records", by_member.wire))[0] == 201
    assert await in_force(http, url, member) == {agreed.id.hex(): False}
    _, alumni = await status_of(http, "GET", f"{url}/v1/orgs/{own_did}/alumni")
    assert [a["member"] for a in alumni["alumni"]] == [did(member)]


async def test_a_draft_authored_by_another_org_is_refused(
    node: Node, http: aiohttp.ClientSession
) -> None:
    url, member, other_org = base_url(node), fresh_key(), fresh_key()
    status, problem = await status_of(
        http, "POST", f"{url}/v1/drafts", draft_for(other_org, member).wire
    )
    assert (status, problem["class"]) == (403, "policy")
    # the node's organisation named as author, but only the member signed
    unsigned = Draft.new(
        kinds.ALLIANCE,
        raw(node.keys.org),
        now_ms(),
        {
            "member": raw(member),
            "tour": "rotational",
            "mission": "m",
            "starts": now_ms(),
            "alumni": False,
        },
    ).sign(member)
    status, problem = await status_of(http, "POST", f"{url}/v1/drafts", unsigned.wire)
    assert (status, problem["class"]) == (403, "policy")
    profile = org_profile(node.keys.org, now_ms(), "Acme")
    status, problem = await status_of(http, "POST", f"{url}/v1/drafts", profile.wire)
    assert (status, problem["class"]) == (422, "schema")
    status, _ = await status_of(http, "POST", f"{url}/v1/drafts", b"{}", "application/json")
    assert status == 415


async def test_member_sign_refuses_a_wallet_that_is_not_the_member_and_a_no(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    url, member, stranger = base_url(node), fresh_key(), fresh_key()
    home = node.config.home
    proposed = await cli(
        "alliance",
        "propose",
        "--home",
        home,
        "--member",
        did(member),
        "--tour",
        "foundational",
        "--mission",
        "Found the data team",
        "--starts",
        "2026-02-01",
        "--no-alumni",
    )
    assert proposed.returncode == 0, proposed.stderr
    match = DRAFT_URL.search(proposed.stdout)
    assert match, proposed.stdout
    draft_url = match.group(0)

    line = one_line_failure(
        await cli(
            "member", "sign", draft_url, "--wallet", wallet(tmp_path, stranger, "stranger"), "--yes"
        )
    )
    assert did(member) in line and "not signing" in line
    mine = wallet(tmp_path, member, "member")
    declined = await cli("member", "sign", draft_url, "--wallet", mine, stdin="n\n")
    assert "Sign this alliance? [y/N]" in declined.stdout
    assert "Found the data team" in declined.stdout and "no alumni clause" in declined.stdout
    assert "not signed" in one_line_failure(declined)
    assert await in_force(http, url, member) == {}

    signed = await cli("member", "sign", draft_url, "--wallet", mine, stdin="y\n")
    assert signed.returncode == 0, signed.stderr
    alliance_id = draft_url.rsplit("/", 1)[1]
    assert f"signed alliance {alliance_id}" in signed.stdout
    assert await in_force(http, url, member) == {alliance_id: True}


async def test_alliance_propose_needs_the_node_running(tmp_path: Path) -> None:
    home = make_home(tmp_path, "idle")
    line = one_line_failure(
        await cli(
            "alliance",
            "propose",
            "--home",
            home,
            "--member",
            did(fresh_key()),
            "--tour",
            "rotational",
            "--mission",
            "m",
            "--starts",
            "2026-01-01",
        )
    )
    assert "must be running" in line


async def test_terms_verify_mismatch_exits_1(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    url, member = base_url(node), fresh_key()
    terms = tmp_path / "terms.md"
    terms.write_text("# Terms\nFour days a week, remote.\n", encoding="utf-8")
    other = tmp_path / "other.md"
    other.write_text("# Terms\nFive days a week, on site.\n", encoding="utf-8")
    agreed = (
        draft_for(node.keys.org, member, terms=sha256(terms.read_bytes())).sign(member).finish()
    )
    plain = draft_for(node.keys.org, member, mission="No terms here.").sign(member).finish()
    for record in (agreed, plain):
        assert (await status_of(http, "POST", f"{url}/v1/records", record.wire))[0] == 201

    ok = await cli("terms", "verify", terms, agreed.id.hex(), "--node", url)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("match") and sha256(terms.read_bytes()).hex() in ok.stdout
    line = one_line_failure(await cli("terms", "verify", other, agreed.id.hex(), "--node", url))
    assert "mismatch" in line and agreed.id.hex() in line
    line = one_line_failure(await cli("terms", "verify", terms, plain.id.hex(), "--node", url))
    assert "no terms" in line
    line = one_line_failure(await cli("terms", "verify", terms, "ab" * 32, "--node", url))
    assert "does not hold" in line


async def test_verify_of_a_tampered_bundle_exits_1_and_names_the_record(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    url, member = base_url(node), fresh_key()
    agreed = draft_for(node.keys.org, member).sign(member).finish()
    praise = attestation(node.keys.org, member, now_ms(), "skill", agreed, skill="search", level=5)
    for record in (agreed, praise):
        assert (await status_of(http, "POST", f"{url}/v1/records", record.wire))[0] == 201
    status, doc = await status_of(http, "GET", f"{url}/v1/reputation/{did(member)}/bundle")
    assert status == 200
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc), encoding="utf-8")
    checked = await cli("verify", good)  # offline: it needs no node at all
    assert checked.returncode == 0, checked.stderr
    assert "grounded    skill: search" in checked.stdout
    assert praise.id.hex() in checked.stdout and "acme" in checked.stdout

    position = [e["wire"] for e in doc["records"]].index(praise.wire.hex()) + 1
    tampered_wire = bytearray(praise.wire)
    tampered_wire[praise.wire.index(praise.sigs[0][1]) + 10] ^= 0x01  # a signature byte
    doc["records"][position - 1] = bytes(tampered_wire).hex()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    refused = await cli("verify", bad)
    line = one_line_failure(refused)
    named = f"record #{position} (attestation {praise.id.hex()})"
    assert named in line and named in refused.stdout and "signature" in line
    assert "grounded" not in refused.stdout

    presented = await cli("member", "present", bad, "--node", url)
    assert named in one_line_failure(presented)


async def test_member_attests_retracts_and_ends_through_the_cli(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    url, member, stranger = base_url(node), fresh_key(), fresh_key()
    agreed = draft_for(node.keys.org, member).sign(member).finish()
    assert (await status_of(http, "POST", f"{url}/v1/records", agreed.wire))[0] == 201
    mine = ("--wallet", wallet(tmp_path, member, "member"), "--node", url)

    rated = await cli(
        "member",
        "attest",
        *mine,
        "--subject",
        org_did(node),
        "--claim",
        "rating",
        "--score",
        "4",
        "--alliance",
        agreed.id.hex(),
    )
    assert rated.returncode == 0, rated.stderr
    rating = re.search(r"published attestation ([0-9a-f]{64})", rated.stdout)
    assert rating, rated.stdout
    _, rep = await status_of(http, "GET", f"{url}/v1/reputation/{org_did(node)}")
    assert [(e["id"], e["state"]) for e in rep["attestations"]] == [(rating[1], "grounded")]
    line = one_line_failure(
        await cli("member", "attest", *mine, "--subject", org_did(node), "--claim", "rating")
    )
    assert "score" in line  # a rating needs a score: refused before anything is sent

    withdrawn = await cli("member", "retract", *mine, rating[1], "--reason", "too early")
    assert withdrawn.returncode == 0, withdrawn.stderr
    _, rep = await status_of(http, "GET", f"{url}/v1/reputation/{org_did(node)}")
    assert [(e["id"], e["state"]) for e in rep["attestations"]] == [(rating[1], "retracted")]

    line = one_line_failure(
        await cli(
            "member",
            "end",
            "--wallet",
            wallet(tmp_path, stranger, "stranger"),
            "--node",
            url,
            agreed.id.hex(),
            "--outcome",
            "completed",
        )
    )
    assert "not a party" in line
    ended = await cli(
        "member",
        "end",
        *mine,
        agreed.id.hex(),
        "--outcome",
        "ended-early",
        "--note",
        "Moved abroad.",
    )
    assert ended.returncode == 0, ended.stderr
    _, view = await status_of(http, "GET", f"{url}/v1/members/{did(member)}")
    assert [(a["id"], a["in_force"], a["outcome"]) for a in view["alliances"]] == [
        (agreed.id.hex(), False, "ended-early")
    ]
