"""A node key is bound to an organisation only by proof, against a node process.

The node denies a URL. Some organisation publishes a profile saying an honest peer's node key
answers at that URL. Before the fix the node took the claim, and from then on refused the
honest peer's signed requests (403: "peer ... is denied") -- a third party got an honest peer
cut off.
Now a claim in someone else's profile never binds or rebinds a key: the honest peer is served.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from crypto import SigningKey
from node.transport import sign_request
from tests.support import fresh_key, now_ms, org_profile
from tests.support.federation import set_peers, wait_for
from tests.support.nodes import NodeProcess, free_port, make_home

MSGPACK = {"Content-Type": "application/msgpack"}


async def _signed_get(session: aiohttp.ClientSession, url: str, key: SigningKey) -> int:
    headers = sign_request(
        key, method="GET", url=url + "/v1/peers", headers={}, body=b"", now=int(time.time())
    )
    async with session.get(url + "/v1/peers", headers=headers) as response:
        await response.read()
        return response.status


async def test_a_profile_cannot_get_an_honest_peer_denied(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    villain = fresh_key()
    honest_node_key = SigningKey.generate()
    denied_url = "http://127.0.0.1:9"
    home = make_home(tmp_path, "target", deny_urls=[denied_url], learn_peers=False)
    proc = node_process(home)
    await proc.await_ready()
    claim = org_profile(
        villain,
        now_ms(),
        name="Villain",
        nodes=[{"key": honest_node_key.public_key.raw, "url": denied_url}],
    )
    async with aiohttp.ClientSession() as session:
        before = await _signed_get(session, proc.url, honest_node_key)
        async with session.post(proc.url + "/v1/records", data=claim.wire, headers=MSGPACK) as r:
            posted = r.status
        after = await _signed_get(session, proc.url, honest_node_key)
    print(f"\nhonest peer: {before} before the claim; claim posted: {posted}; after: {after}")
    assert before == 200 and posted == 201
    assert after == 200, "a profile got an honest peer's key refused"


async def test_peer_table_never_shows_what_a_remote_wrote(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    """A peer answering every request with a problem document whose detail is markup: the
    node's /v1/peers shows the status and class, never that detail (before: it did)."""
    payload = "<script>alert('peer')</script>"

    async def hostile(request: web.Request) -> web.Response:
        body = {"status": 422, "class": "schema", "title": "x", "detail": payload}
        return web.json_response(body, status=422, content_type="application/problem+json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hostile)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        home = make_home(tmp_path, "target", push_interval=0.2, max_backoff=1.0)
        set_peers(home, [f"http://127.0.0.1:{port}"])
        proc = node_process(home)
        await proc.await_ready()
        async with aiohttp.ClientSession() as session:

            async def failed_row() -> dict[str, object] | None:
                async with session.get(proc.url + "/v1/peers") as response:
                    rows = (await response.json())["peers"]
                return next((r for r in rows if r.get("error")), None)

            row = await wait_for(failed_row, 20, "the hostile peer's failure recorded")
            async with session.get(proc.url + "/v1/peers") as response:
                table = await response.text()
    finally:
        await runner.cleanup()
    print(f"\n/v1/peers error for a hostile peer: {row['error']!r}")
    assert "422" in str(row["error"])
    assert payload not in table and "script" not in table
