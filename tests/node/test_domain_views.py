"""Where a domain proof shows: the board's organisation page (English and Japanese) and
``member sign``, both "domain verified" while the proof holds and "unverified" after it changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from node.config import load_keys
from node.service import Node
from node.transport import timeouts
from tests.node.test_alliance_rules import cli
from tests.node.test_member_drafts import leave_draft, wallet_of
from tests.support import base_url, fresh_key, make_home, org_did, running_node
from tests.support.proofserver import ProofServer, proof_server

DOMAIN = "acme.example.org"


@pytest.fixture
async def served() -> AsyncIterator[ProofServer]:
    async with proof_server() as server:
        yield server


@pytest.fixture
async def node(tmp_path: Path, served: ProofServer) -> AsyncIterator[Node]:
    home = make_home(tmp_path, "acme", domain=DOMAIN, domain_proof_base=served.base)
    # served before the node starts: it checks its own profile as soon as it publishes it
    served.body = load_keys(home).org.public_key.did
    async with running_node(home) as running:
        assert org_did(running) == served.body
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=timeouts(total=10)) as session:
        yield session


async def page(http: aiohttp.ClientSession, node: Node, lang: str) -> str:
    async with http.get(f"{base_url(node)}/orgs/{org_did(node)}?lang={lang}") as response:
        assert response.status == 200
        return await response.text()


async def test_board_and_member_sign_show_the_domain_proof(
    tmp_path: Path, node: Node, served: ProofServer, http: aiohttp.ClientSession
) -> None:
    english, japanese = await page(http, node, "en"), await page(http, node, "ja")
    assert DOMAIN in english and 'data-domain="verified"' in english
    assert "domain verified" in english and "ドメイン確認済み" in japanese

    member = fresh_key()
    _, url = await leave_draft(http, node, member)
    mine = wallet_of(tmp_path, member, "member")
    signed = await cli("member", "sign", url, "--wallet", mine, "--yes")
    assert signed.returncode == 0, signed.stderr
    assert f"{DOMAIN} (domain verified)" in signed.stdout

    served.body = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    assert not (await node.domains.check(DOMAIN, node.org_identity)).verified
    english, japanese = await page(http, node, "en"), await page(http, node, "ja")
    assert 'data-domain="unverified"' in english and "domain verified" not in english
    assert "未確認" in japanese and "ドメイン確認済み" not in japanese
    _, url = await leave_draft(http, node, member, mission="Second tour.")
    other = await cli("member", "sign", url, "--wallet", mine, "--yes")
    assert f"{DOMAIN} (unverified)" in other.stdout + other.stderr
