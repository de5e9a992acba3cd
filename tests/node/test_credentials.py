"""A real node issues W3C credentials for its organisation's attestations, and only those."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.dataintegrity import canonicalize
from node.service import Node
from protocol.credential import CONTEXT_PATH
from protocol.credential_check import CredentialError, check_credential
from tests.support import (
    Cast,
    alliance,
    alliance_end,
    attestation,
    base_url,
    make_home,
    now_ms,
    retract,
    running_node,
)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme")) as running:
        yield running


async def _post(session: aiohttp.ClientSession, url: str, wire: bytes) -> None:
    headers = {"Content-Type": "application/msgpack"}
    async with session.post(url + "/v1/records", data=wire, headers=headers) as response:
        assert response.status in (200, 201), await response.text()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with session.get(url) as response:
        return response.status, response.content_type, await response.json(content_type=None)


async def test_a_node_issues_credentials_for_its_own_attestations(node: Node) -> None:
    org = node.keys.org
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    agreed = alliance(org, cast.member, t0)
    skill = attestation(org, cast.member, t0 + 2, "skill", agreed, skill="sql", level=5)
    badge = attestation(org, cast.member, t0 + 3, "tour.completed", agreed)
    foreign = attestation(cast.org, cast.member, t0 + 4, "rating", score=3)
    gone = attestation(org, cast.member, t0 + 5, "recommendation", agreed, text="Yes.")
    url = base_url(node)
    async with aiohttp.ClientSession() as session:
        for record in (
            agreed,
            alliance_end(org, agreed, t0 + 1),
            skill,
            badge,
            foreign,
            gone,
            retract(org, gone, t0 + 6),
        ):
            await _post(session, url, record.wire)
        status, ctype, vc = await _get(session, f"{url}/v1/records/{skill.id.hex()}/credential")
        assert (status, ctype) == (200, "application/vc+ld+json"), vc
        _, _, again = await _get(session, f"{url}/v1/records/{skill.id.hex()}/credential")
        assert canonicalize(vc) == canonicalize(again)  # deterministic
        report = check_credential(vc, now_ms())
        assert report.ok and report.record == skill
        assert vc["@context"][-1] == url + CONTEXT_PATH
        status, ctype, context = await _get(session, vc["@context"][-1])
        assert (status, ctype) == (200, "application/ld+json")
        assert "RakuichiAttestation" in context["@context"]

        _, _, ob = await _get(session, f"{url}/v1/records/{badge.id.hex()}/credential")
        assert "OpenBadgeCredential" in ob["type"]
        assert check_credential(ob, now_ms()).ok

        for record, status_, klass in (
            (foreign, 404, "not-issuer"),
            (agreed, 404, "not-issuer"),
            (gone, 410, "retracted"),
        ):
            status, _, problem = await _get(
                session, f"{url}/v1/records/{record.id.hex()}/credential"
            )
            assert (status, problem["class"]) == (status_, klass), problem
        status, _, problem = await _get(session, f"{url}/v1/records/{'ab' * 32}/credential")
        assert (status, problem["class"]) == (404, "not-found")
        status, _, problem = await _get(session, f"{url}/v1/records/nothex/credential")
        assert status == 400, problem


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


async def _issue(home: Path) -> list[dict[str, Any]]:
    """Credentials fetched over HTTP from a real node: a skill and an Open Badge."""
    async with running_node(home) as node, aiohttp.ClientSession() as session:
        org, member, t0 = node.keys.org, Cast.fresh().member, now_ms() - 60_000
        agreed = alliance(org, member, t0)
        records = [
            attestation(org, member, t0 + 2, "skill", agreed, skill="ux", text="Fine work."),
            attestation(org, member, t0 + 3, "tour.completed", agreed, expires=t0 + 10**10),
        ]
        issued = []
        for record in (agreed, alliance_end(org, agreed, t0 + 1), *records):
            await _post(session, base_url(node), record.wire)
        for record in records:
            url = f"{base_url(node)}/v1/records/{record.id.hex()}/credential"
            issued.append((await _get(session, url))[2])
        return issued


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return asyncio.run(_issue(make_home(tmp_path_factory.mktemp("issuer"), "acme")))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 1), pick=st.integers(0, 10_000), salt=st.integers(1, 60))
def test_a_node_issued_credential_fails_after_any_change(
    issued: list[dict[str, Any]], which: int, pick: int, salt: int
) -> None:
    vc = copy.deepcopy(issued[which])
    assert check_credential(vc, now_ms()).ok
    paths = _paths(vc)
    path = paths[pick % len(paths)]
    parent = vc
    for step in path[:-1]:
        parent = parent[step]
    value = parent[path[-1]]
    if isinstance(value, bool):
        parent[path[-1]] = not value
    elif isinstance(value, int):
        parent[path[-1]] = value + salt
    else:
        i = salt % len(value)
        parent[path[-1]] = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
    with pytest.raises(CredentialError):
        check_credential(vc, now_ms())


async def test_the_member_page_offers_the_credential_of_this_nodes_attestations(
    node: Node,
) -> None:
    org, cast, t0 = node.keys.org, Cast.fresh(), now_ms() - 60_000
    agreed = alliance(org, cast.member, t0)
    own = attestation(org, cast.member, t0 + 2, "skill", agreed, skill="sql")
    other_alliance = alliance(cast.org, cast.member, t0 + 3)
    other = attestation(cast.org, cast.member, t0 + 4, "skill", other_alliance, skill="go")
    url = base_url(node)
    async with aiohttp.ClientSession() as session:
        for record in (agreed, own, other_alliance, other):
            await _post(session, url, record.wire)
        async with session.get(f"{url}/members/{cast.member.public_key.did}") as response:
            assert response.status == 200
            page = await response.text()
        link = f"/v1/records/{own.id.hex()}/credential"
        assert f'href="{link}"' in page and "Download as W3C credential" in page
        assert f"/v1/records/{other.id.hex()}/credential" not in page  # not issued here
        status, _, vc = await _get(session, url + link)
        assert status == 200 and check_credential(vc, now_ms()).record == own
