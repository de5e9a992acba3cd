"""A member's side of drafts at a real node: ``member sign --terms`` refuses a document that is
not the agreed one, and ``member drafts`` (a request signed with the member's key) lists the
drafts waiting for that member to that member alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from crypto import SigningKey, save_signing_key, sha256
from node.service import Node
from node.transport import NodeClient, RemoteRefusal, timeouts
from tests.node.test_alliance_rules import cli, draft_for, one_line_failure, status_of
from tests.support import base_url, did, fresh_key, make_home, running_node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=timeouts(total=10)) as session:
        yield session


def wallet_of(tmp_path: Path, key: SigningKey, name: str) -> Path:
    path = tmp_path / f"{name}.key"
    save_signing_key(path, key)
    return path


async def leave_draft(http: aiohttp.ClientSession, node: Node, member: SigningKey, **extra):  # type: ignore[no-untyped-def]
    draft = draft_for(node.keys.org, member, **extra)
    status, answer = await status_of(http, "POST", f"{base_url(node)}/v1/drafts", draft.wire)
    assert status == 201, answer
    return draft, answer["url"]


async def test_sign_with_terms_refuses_a_different_document(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    member = fresh_key()
    agreed, other = tmp_path / "terms.md", tmp_path / "other.md"
    agreed.write_text("Four days a week.\n")
    other.write_text("Five days a week.\n")
    _, url = await leave_draft(http, node, member, terms=sha256(agreed.read_bytes()))
    mine = wallet_of(tmp_path, member, "member")

    line = one_line_failure(
        await cli("member", "sign", url, "--wallet", mine, "--terms", other, "--yes")
    )
    assert "not signing" in line and sha256(other.read_bytes()).hex() in line
    assert "terms digest" in line
    _, answer = await status_of(http, "GET", url)
    assert answer["signed"] is False

    signed = await cli("member", "sign", url, "--wallet", mine, "--terms", agreed, "--yes")
    assert signed.returncode == 0, signed.stderr
    assert f"terms document {agreed} matches" in signed.stdout
    _, answer = await status_of(http, "GET", url)
    assert answer["signed"] is True


async def test_sign_with_terms_refuses_a_draft_without_terms(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    member = fresh_key()
    document = tmp_path / "terms.md"
    document.write_text("anything\n")
    _, url = await leave_draft(http, node, member)
    line = one_line_failure(
        await cli(
            "member",
            "sign",
            url,
            "--wallet",
            wallet_of(tmp_path, member, "m"),
            "--terms",
            document,
            "--yes",
        )
    )
    assert "names no terms document" in line


async def test_drafts_are_listed_to_the_member_alone(
    tmp_path: Path, node: Node, http: aiohttp.ClientSession
) -> None:
    member, other, stranger = fresh_key(), fresh_key(), fresh_key()
    first, _ = await leave_draft(http, node, member, mission="First tour.")
    second, second_url = await leave_draft(http, node, member, mission="Second tour.")
    await leave_draft(http, node, other, mission="Someone else's tour.")
    url = base_url(node)

    listed = await cli(
        "member", "drafts", "--wallet", wallet_of(tmp_path, member, "m"), "--node", url
    )
    assert listed.returncode == 0, listed.stderr
    assert f"2 draft(s) waiting for {did(member)}" in listed.stdout
    assert first.id.hex() in listed.stdout and second.id.hex() in listed.stdout
    assert "First tour." in listed.stdout and "Someone else" not in listed.stdout
    assert f"rakuichi member sign {second_url}" in listed.stdout

    path = f"/v1/members/{did(member)}/drafts"
    status, problem = await status_of(http, "GET", url + path)
    assert (status, problem["class"]) == (401, "signature"), problem
    with pytest.raises(RemoteRefusal) as refused:
        await NodeClient(url, http, signer=stranger).member_drafts(did(member))
    assert refused.value.status == 403 and refused.value.klass == "policy"
    theirs = await cli(
        "member", "drafts", "--wallet", wallet_of(tmp_path, stranger, "s"), "--node", url
    )
    assert f"0 draft(s) waiting for {did(stranger)}" in theirs.stdout, theirs.stderr

    # once signed, a draft is no longer waiting
    signed = await cli("member", "sign", second_url, "--wallet", tmp_path / "m.key", "--yes")
    assert signed.returncode == 0, signed.stderr
    drafts = await NodeClient(url, http, signer=member).member_drafts(did(member))
    assert [d["id"] for d in drafts] == [first.id.hex()]
