"""/admin: loopback or the admin token, else 404; forms need their CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from crypto import did_from_raw
from node.clock import FakeClock
from node.config import load_config
from node.ingest import Outcome
from node.service import Node
from node.web.admin import Refusals
from protocol import Rejected
from tests.support import make_home, running_node
from tests.support.browser import Browser
from tests.web.conftest import Pair

TOKEN = "a-long-admin-token-for-tests"
PROXIED = {"X-Forwarded-For": "203.0.113.9"}  # what a reverse proxy adds: not a local client


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "n", admin_token=TOKEN)) as running:
        yield running


def denied(node: Node) -> set[str]:
    return {did_from_raw(k) for k in load_config(node.config.home).federation.deny_orgs}


async def _get(node: Node, path: str, **kwargs: object) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(node.config.public_url + path, allow_redirects=False, **kwargs) as r,
    ):
        return r.status, await r.text()


def test_refusals_are_dated_by_the_clock_they_are_given() -> None:
    """The node's clock (a test's clock holds still or moves when told), not the wall clock."""
    clock = FakeClock(1_700_000_000_000)
    refusals = Refusals(clock.now_ms)
    refusals.observe([Outcome(refusal=Rejected("bad")), Outcome(b"\x01" * 32, True)], None)
    clock.advance(5)
    refusals.observe([Outcome(refusal=Rejected("worse"))], None)
    dated = [(when, detail) for when, _, detail, _ in refusals.recent]
    assert dated == [(1_700_000_000_000, "bad"), (1_700_000_005_000, "worse")]


async def test_admin_is_404_to_a_client_that_is_not_local_without_the_token(node: Node) -> None:
    status, body = await _get(node, "/admin", headers=PROXIED)
    assert status == 404 and "peers" not in body.lower()
    wrong = {**PROXIED, "Authorization": "Bearer not-the-token"}
    assert (await _get(node, "/admin", headers=wrong))[0] == 404
    right = {**PROXIED, "Authorization": f"Bearer {TOKEN}"}
    assert (await _get(node, "/admin", headers=right))[0] == 200
    assert (await _get(node, "/admin"))[0] == 200  # loopback, no proxy
    for path in ("/admin/deny", "/admin/undeny"):
        async with (
            aiohttp.ClientSession() as session,
            session.post(node.config.public_url + path, headers=PROXIED, data={}) as r,
        ):
            assert r.status == 404


async def test_the_token_in_the_url_becomes_a_cookie(node: Node) -> None:
    url = node.config.public_url
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies set by an IP address like 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(
            f"{url}/admin?token={TOKEN}", headers=PROXIED, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/admin"
        async with session.get(f"{url}/admin", headers=PROXIED) as r:
            assert r.status == 200


async def test_deny_and_undeny_need_the_csrf_token(node: Node) -> None:
    url = node.config.public_url
    target = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/admin") as r:
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        for data, headers in (
            ({"target": target}, {}),
            ({"target": target, "csrf": "0" * 64}, {}),
            ({"target": target, "csrf": csrf}, {"Origin": "http://evil.example"}),
        ):
            async with session.post(f"{url}/admin/deny", data=data, headers=headers) as r:
                assert r.status == 403, data
        assert target not in denied(node)
        form = {"target": target, "csrf": csrf}
        async with session.post(f"{url}/admin/deny", data=form, allow_redirects=False) as r:
            assert r.status == 303
        assert target in denied(node)
        async with session.post(f"{url}/admin/undeny", data=form, allow_redirects=False) as r:
            assert r.status == 303
        assert target not in denied(node)


@pytest.mark.slow
def test_operator_denies_and_undenies_in_the_browser(pair: Pair, browser: Browser) -> None:
    browser.get(pair.a.url + "/admin")
    assert pair.b.url in browser.text("#peers")  # A's peer, with its state
    browser.find("#target").send_keys("http://198.51.100.7:8080")
    browser.find("#deny-form button").click()
    browser.wait_for(lambda: browser.find_all("#notice"), "the saved notice")
    assert "http://198.51.100.7:8080" in browser.text("#deny")
    browser.find("#deny .undeny").click()
    browser.wait_for(
        lambda: "198.51.100.7" not in browser.text("#deny"), "the peer to leave the deny list"
    )
