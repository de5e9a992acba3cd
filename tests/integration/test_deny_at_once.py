"""A deny by URL bites at once, and cannot be turned against an honest peer, against node
processes.

1. Node B pushes to node A (B lists A; A never contacts B). A's operator denies B's URL.
   Before the fix A refused B's requests only once B's node key was proven for that URL, which
   happens when A contacts B -- and a deny stops A contacting B: B's pushes kept coming. Now A
   reads the denied URL's own well-known document when the deny is read, binds the key it
   names there, and refuses B's signed requests within seconds.
2. The binding-by-proof rule stays: a denied URL whose well-known document names an honest
   peer's node key (already proven at the honest peer's own URL) gets nobody refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from node.config import load_keys
from node.transport import NodeClient, RemoteRefusal
from tests.support import run_cli
from tests.support.countingpeer import CountingPeer
from tests.support.federation import Api, federation_home, set_peers, start_processes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

EFFECT_WITHIN = 5.0  # seconds: config.toml is re-read every second, then one GET


async def deny(home, target: str) -> None:
    done = await asyncio.to_thread(run_cli, "peers", "deny", "--home", home, target)
    assert done.returncode == 0, done.stderr


async def refused(client: NodeClient) -> RemoteRefusal | None:
    """An empty batch signed by ``client``'s key: None while welcome, the refusal once not."""
    try:
        await client.post_records([])
    except RemoteRefusal as exc:
        return exc
    return None


async def test_a_deny_by_url_bites_at_once(tmp_path, api: Api) -> None:
    home_a, home_b = federation_home(tmp_path, "a"), federation_home(tmp_path, "b")
    a_proc, b_proc = await start_processes([home_a, home_b])
    a, b = a_proc.url, b_proc.url
    set_peers(home_b, [a])  # B pushes to A; A does not list B
    await wait_for(lambda: api.converged([a, b]), 20.0, "B's profile at A")
    a_as_b = NodeClient(a, api.session, signer=load_keys(home_b).node)
    assert await refused(a_as_b) is None

    denied_at = time.monotonic()
    await deny(home_a, b)
    refusal = await wait_for(lambda: refused(a_as_b), EFFECT_WITHIN, "the URL deny in effect")
    took = time.monotonic() - denied_at
    print(f"\ndeny of a URL A never contacted: B refused {took:.1f} s after the command")
    assert (refusal.status, refusal.klass) == (403, "policy"), refusal
    await wait_for(
        lambda: every_connection(a, home_b, lambda r: r is not None),
        EFFECT_WITHIN,
        "the URL deny in effect in every worker",
    )


async def test_a_denied_url_naming_an_honest_key_gets_nobody_refused(tmp_path, api: Api) -> None:
    home_a, home_b = federation_home(tmp_path, "a"), federation_home(tmp_path, "b")
    a_proc, b_proc = await start_processes([home_a, home_b])
    a, b = a_proc.url, b_proc.url
    set_peers(home_a, [b])  # A proves B's node key at B's own URL
    await wait_for(lambda: api.converged([a, b]), 20.0, "A and B in step")
    b_key = load_keys(home_b).node
    impostor = CountingPeer(key=b_key)  # its well-known document names B's node key
    await impostor.start()
    try:
        await deny(home_a, impostor.url)
        await wait_for(
            lambda: _true(impostor.seen["/.well-known/rakuichi"] > 0),
            EFFECT_WITHIN * 3,
            "A reading the denied URL's well-known document",
        )
        await asyncio.sleep(1.0)
        a_as_b = NodeClient(a, api.session, signer=b_key)
        refusal = await refused(a_as_b)
    finally:
        await impostor.stop()
    print(f"\nhonest B after a denied URL claimed its key: {refusal or 'welcome'}")
    assert refusal is None, refusal
    assert await every_connection(a, home_b, lambda r: r is None), "B refused by some worker"


async def every_connection(
    url: str, signer_home: Path, holds: Callable[[RemoteRefusal | None], bool]
) -> bool:
    """Whether ``holds`` for the answer to B's signed request on each of 12 new connections
    (a node of several workers: the kernel spreads new connections over them)."""
    signer = load_keys(signer_home).node
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = NodeClient(url, session, signer=signer)
        for _ in range(12):
            if not holds(await refused(client)):
                return False
    return True


async def _true(value: bool) -> bool:
    return value
