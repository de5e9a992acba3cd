"""Under ``allow_only`` the node-to-node routes answer only signed requests from listed peers.

Without ``allow_only`` they answer anyone (docs/protocol.md section 10: what they reveal is
what any reader can list); with it, an unsigned ``POST /v1/sync`` or ``/v1/records/fetch`` gets
401 ``signature`` and a request signed by a node the operator did not list gets 403 ``policy``.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from node.config import load_config, load_keys
from node.federation.peersfile import SeedPeer, write_peers
from node.transport import MSGPACK, NodeClient, RemoteRefusal
from protocol.itemset import MemoryItemSet
from protocol.reconcile import Initiator
from tests.support.federation import federation_home, http_session, running_federation

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]


async def _unsigned(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with session.post(url, data=body, headers={"Content-Type": MSGPACK}) as response:
        problem = await response.json(content_type=None) if response.status != 200 else {}
        return response.status, problem.get("class", "")


async def _signed_status(client: NodeClient, message: bytes) -> tuple[int, str]:
    try:
        await client.sync(message)
        await client.fetch([bytes(32)])
    except RemoteRefusal as refusal:
        return refusal.status, refusal.klass
    return 200, ""


@pytest.mark.parametrize("allow_only", [False, True])
async def test_node_routes_under_allow_only(tmp_path: Path, allow_only: bool) -> None:
    a_home = federation_home(tmp_path, "a", allow_only=allow_only, anti_entropy_interval=3600.0)
    listed_home = federation_home(tmp_path, "listed")
    stranger_home = federation_home(tmp_path, "stranger")
    listed = load_config(listed_home)
    listed_key = load_keys(listed_home).node
    write_peers(
        a_home / "peers.toml", [SeedPeer(listed.public_url, node_key=listed_key.public_key.did)]
    )
    stranger_key = load_keys(stranger_home).node
    message = Initiator(MemoryItemSet()).start()
    fetch_body = bytes.fromhex("91c420") + bytes(32)  # [<32 zero bytes>]

    async with running_federation(a_home) as a, http_session() as session:
        a_url = a.node.config.public_url
        sync_status = await _unsigned(session, f"{a_url}/v1/sync", message)
        fetch_status = await _unsigned(session, f"{a_url}/v1/records/fetch", fetch_body)
        as_listed = await _signed_status(NodeClient(a_url, session, signer=listed_key), message)
        as_stranger = await _signed_status(NodeClient(a_url, session, signer=stranger_key), message)

    assert as_listed == (200, "")
    if allow_only:
        assert sync_status == (401, "signature")
        assert fetch_status == (401, "signature")
        assert as_stranger == (403, "policy")
    else:
        assert sync_status == (200, "")
        assert fetch_status == (200, "")
        assert as_stranger == (200, "")
