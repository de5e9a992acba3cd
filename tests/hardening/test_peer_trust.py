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

from crypto import SigningKey
from node.transport import sign_request
from tests.support import fresh_key, now_ms, org_profile
from tests.support.nodes import NodeProcess, make_home

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
