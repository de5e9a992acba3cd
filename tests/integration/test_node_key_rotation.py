"""A node rotates its transport key while running; its peer follows from the new org.profile
with no operator action, and refuses the retired key once the grace period is over."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crypto import SigningKey, load_signing_key
from node.config import load_config
from node.transport import sign_request
from tests.integration.test_key_rotation import opportunity_args, published, rakuichi
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

GRACE = 15.0  # B's node_key_grace, seconds
WITHIN = 30.0


async def signed_get(api: Api, key: SigningKey, url: str) -> int:
    """The status of a GET of ``url`` signed with ``key``."""
    headers = sign_request(key, method="GET", url=url, headers={}, body=b"", now=int(time.time()))
    async with api.session.get(url, headers=headers) as response:
        return response.status


async def test_peer_follows_a_node_key_rotation(tmp_path: Path, api: Api) -> None:
    home_a = federation_home(tmp_path, "aurora", key_events=True)
    home_b = federation_home(tmp_path, "birch", node_key_grace=GRACE)
    a, b = (load_config(h).public_url for h in (home_a, home_b))
    set_peers(home_a, [b])
    set_peers(home_b, [a])
    await start_processes([home_a, home_b])
    old_key = load_signing_key(home_a / "node.key")

    async def b_knows(node_did: str) -> bool:
        table = (await api.get_json(f"{b}/v1/peers"))["peers"]
        return any(p["url"] == a and p["node"] == node_did for p in table)

    await wait_for(lambda: b_knows(old_key.public_key.did), WITHIN, "B knows A's node key")
    # ... and holds the profile of A that lists it: a rotation retires the keys that A's
    # newest profile no longer lists, as B knows A's profiles
    await wait_for(lambda: api.converged([a, b]), WITHIN, "A and B in step before the rotation")
    assert await signed_get(api, old_key, f"{b}/v1/peers") == 200

    rotated_at = time.monotonic()
    out = (await rakuichi("keys", "rotate-node", "--home", home_a)).stdout
    assert f"node key {old_key.public_key.did} retired" in out
    new_key = load_signing_key(home_a / "node.key")
    assert new_key.public_key.did != old_key.public_key.did

    async def a_signs_with_new_key() -> bool:
        known = await api.get_json(f"{a}/.well-known/rakuichi")
        return bool(known["node"] == new_key.public_key.did)

    await wait_for(a_signs_with_new_key, WITHIN, "A using its new node key")
    await wait_for(lambda: b_knows(new_key.public_key.did), WITHIN, "B following A's new key")
    if time.monotonic() - rotated_at < GRACE - 5:  # (always, unless the machine crawls)
        assert await signed_get(api, old_key, f"{b}/v1/peers") == 200  # within the grace
    # records still flow from A to B, pushed with the new key
    slug_id = await published(*opportunity_args(home_a, "after-node-rotation"))

    async def arrived() -> bool:
        async with api.session.get(f"{b}/v1/records/{slug_id}") as response:
            return response.status == 200

    await wait_for(arrived, WITHIN, "a record pushed by A after its node key rotation")
    assert await signed_get(api, new_key, f"{b}/v1/peers") == 200

    # the retired key: refused once the grace period is over (accepted within it)
    async def refused() -> bool:
        return await signed_get(api, old_key, f"{b}/v1/peers") == 401

    await wait_for(refused, GRACE + WITHIN, "the retired node key refused", interval=1.0)
    assert await signed_get(api, new_key, f"{b}/v1/peers") == 200
