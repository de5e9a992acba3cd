"""Anti-entropy is not a way in for records nobody asked for, against a node process.

A peer claims ids it does not have (phantoms), and answers every fetch with valid records that
were not among the ids asked for. Before the fix the node stored them (and forwarded them to
its other peers); now they are dropped and counted as refused (``/metrics``), and the session
fails against the peer (``/v1/peers``). The peer takes the node's pushes, so the only failure
the peer row can show is the sync session's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgpack
from aiohttp import web

from protocol.reconcile import DEFAULT_LIMITS, REQUEST_MODES, decode_message, encode_message
from tests.integration.test_hostile_peer import phantom_ids
from tests.support import did, fresh_key, now_ms, opportunity
from tests.support.federation import set_peers, wait_for
from tests.support.nodes import NodeProcess, free_port, make_home


async def test_records_not_asked_for_are_dropped(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    peer_key, peer_org, author = fresh_key(), fresh_key(), fresh_key()
    planted = [opportunity(author, now_ms() - 1000 + i, slug=f"p{i}") for i in range(5)]
    fetches = 0
    port = free_port()

    async def serve(request: web.Request) -> web.Response:
        nonlocal fetches
        body = await request.read()
        if request.path == "/.well-known/rakuichi":
            return web.json_response(
                {
                    "protocol": 1,
                    "software": "rakuichi",
                    "name": "liar",
                    "org": did(peer_org),
                    "node": did(peer_key),
                    "url": f"http://127.0.0.1:{port}",
                }
            )
        if request.path == "/v1/sync":
            ranges = decode_message(body, REQUEST_MODES, DEFAULT_LIMITS)
            return web.Response(
                body=encode_message(phantom_ids(ranges)), content_type="application/msgpack"
            )
        if request.path == "/v1/records" and request.method == "POST":
            pushed = msgpack.unpackb(body, raw=False)
            return web.json_response({"results": [{"stored": True} for _ in pushed]})
        if request.path == "/v1/records/fetch":
            fetches += 1
            wires = [r.wire for r in planted]
            return web.Response(
                body=msgpack.packb(wires, use_bin_type=True), content_type="application/msgpack"
            )
        return web.json_response({"peers": []} if request.path == "/v1/peers" else {})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        home = make_home(tmp_path, "target", anti_entropy_interval=0.5, learn_peers=False)
        set_peers(home, [f"http://127.0.0.1:{port}"])
        proc = node_process(home)
        await proc.await_ready()

        async def fetched_twice() -> bool:
            return fetches >= 2

        await wait_for(fetched_twice, 30, "the node fetching from the lying peer")

        async def peer_row(session: aiohttp.ClientSession) -> dict:
            async with session.get(proc.url + "/v1/peers") as response:
                peers = (await response.json())["peers"]
            return next(r for r in peers if r["url"] == f"http://127.0.0.1:{port}")

        async with aiohttp.ClientSession() as session:

            async def session_failed() -> dict | None:
                row = await peer_row(session)
                return row if "claims that do not hold" in (row["error"] or "") else None

            row = await wait_for(session_failed, 30, "the peer row naming the false claims")
            async with session.get(proc.url + f"/v1/records?author={did(author)}") as response:
                held = (await response.json())["records"]
            async with session.get(proc.url + "/metrics") as response:
                metrics = await response.text()
    finally:
        await runner.cleanup()
    refused = re.search(
        r'rakuichi_records_refused_total\{class="unrequested",source="peer"\} (\S+)', metrics
    )
    print(
        f"\n{fetches} fetch answers with 5 unrequested records each: {len(held)} stored;"
        f" counted refused (unrequested) {refused.group(1) if refused else None};"
        f" /v1/peers failures {row['failures']}, error {row['error']!r}"
    )
    assert held == []
    # the first answer was taken in before the second fetch (the next session) was sent
    assert refused is not None and float(refused.group(1)) >= 5
    assert row["failures"] >= 1
