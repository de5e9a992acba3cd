"""Anti-entropy cannot be turned into an amplifier, against a node process.

1. A client asking for sync rounds (or fetches) again and again gets 429 with ``Retry-After``
   once it has spent one full session's worth (64 rounds, 200,000 fetched ids) of the node's
   anti-entropy interval. Before the fix every one of them was answered (200).
2. A peer whose claims do not hold -- it completes a reconciliation claiming 100 ids, then
   delivers none of them -- is counted as failing (``/v1/peers`` error, ``failures``,
   ``rakuichi_peer_false_claims``) and backed off. Before the fix each such session counted
   as a success and the node came back every interval.
3. A peer that takes records and then claims to lack the same ones again, session after
   session ("relacked"), is counted as failing and backed off, and is not sent them again
   every other session.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
from aiohttp import web

from protocol import Initiator, MemoryItemSet, parse, respond
from protocol.itemset import ID_LEN
from protocol.reconcile import (
    DEFAULT_LIMITS,
    REQUEST_MODES,
    Mode,
    Range,
    decode_message,
    encode_message,
)
from tests.support import fresh_key, now_ms, opportunity
from tests.support.countingpeer import CountingPeer
from tests.support.federation import set_peers, wait_for
from tests.support.nodes import NodeProcess, make_home

MSGPACK = {"Content-Type": "application/msgpack"}
PHANTOMS = 100
WATCH = 8.0  # seconds the phantom peer is watched
INTERVAL = 0.5


async def test_repeated_sync_requests_get_429(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "target", anti_entropy_interval=60.0, learn_peers=False)
    proc = node_process(home)
    await proc.await_ready()
    start = Initiator(MemoryItemSet()).start()
    statuses: list[int] = []
    retry_after = None
    async with aiohttp.ClientSession() as session:
        for _ in range(3 * DEFAULT_LIMITS.max_rounds):
            async with session.post(proc.url + "/v1/sync", data=start, headers=MSGPACK) as r:
                await r.read()
                statuses.append(r.status)
                if r.status == 429:
                    retry_after = r.headers.get("Retry-After")
                    break
        fetch_statuses: list[int] = []
        ids = msgpack.packb([os.urandom(32) for _ in range(1024)])
        for _ in range(200):
            async with session.post(proc.url + "/v1/records/fetch", data=ids, headers=MSGPACK) as r:
                await r.read()
                fetch_statuses.append(r.status)
                if r.status == 429:
                    break
    print(
        f"\nsync: {statuses.count(200)} rounds answered, then {statuses[-1]} "
        f"(Retry-After {retry_after}); fetch: {fetch_statuses.count(200)} x 1024 ids answered, "
        f"then {fetch_statuses[-1]}"
    )
    assert statuses[-1] == 429 and statuses.count(200) == DEFAULT_LIMITS.max_rounds
    assert retry_after is not None and 1 <= int(retry_after) <= 60
    assert fetch_statuses[-1] == 429 and fetch_statuses.count(200) == 200_000 // 1024


class PhantomPeer(CountingPeer):
    """Completes every reconciliation in one round claiming ``PHANTOMS`` ids it does not have;
    its fetch answers are empty; it takes what it is sent."""

    async def answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if request.path == "/v1/sync":
            ranges = decode_message(body, REQUEST_MODES, DEFAULT_LIMITS)
            ids = b"".join(sorted(os.urandom(ID_LEN) for _ in range(PHANTOMS)))
            reply = [
                r if r.mode == Mode.SKIP else Range(r.lo, r.hi, Mode.IDS, ids if i == 0 else b"")
                for i, r in enumerate(ranges)
            ]
            return web.Response(body=encode_message(reply), content_type="application/msgpack")
        if request.path == "/v1/records/fetch":
            return web.Response(body=msgpack.packb([]), content_type="application/msgpack")
        if request.path == "/v1/records":
            wires = msgpack.unpackb(body)
            results = [{"id": "00" * 32, "stored": True} for _ in wires]
            return web.json_response({"results": results})
        return web.Response(status=404)


async def test_a_peer_whose_claims_do_not_hold_is_failing_and_backed_off(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    peer = PhantomPeer()
    await peer.start()
    try:
        home = make_home(
            tmp_path,
            "target",
            anti_entropy_interval=INTERVAL,
            max_backoff=60.0,
            learn_peers=False,
        )
        set_peers(home, [peer.url])
        proc = node_process(home)
        await proc.await_ready()
        async with aiohttp.ClientSession() as session:
            await wait_for(lambda: _true(peer.seen["/v1/sync"] > 0), 20, "a first session")
            began = time.monotonic()
            await asyncio.sleep(WATCH)
            sessions = peer.seen["/v1/sync"]
            async with session.get(proc.url + "/v1/peers") as response:
                row: dict[str, Any] = next(
                    r for r in (await response.json())["peers"] if r["url"] == peer.url
                )
            async with session.get(proc.url + "/metrics") as response:
                metrics = await response.text()
    finally:
        await peer.stop()
    claims = re.search(
        r'rakuichi_peer_false_claims_total\{peer="' + re.escape(peer.url) + r'"\} (\S+)', metrics
    )
    print(
        f"\nphantom peer: {sessions} sessions in {time.monotonic() - began:.1f} s "
        f"(interval {INTERVAL} s: {WATCH / INTERVAL:.0f} without backoff); /v1/peers "
        f"failures {row['failures']}, error {row['error']!r}; false claims "
        f"{claims.group(1) if claims else None}"
    )
    assert row["failures"] >= 1 and "claims that do not hold" in (row["error"] or "")
    assert claims is not None and float(claims.group(1)) >= PHANTOMS
    assert sessions <= WATCH / INTERVAL * 0.6, sessions


class ForgetfulPeer(CountingPeer):
    """Takes every record it is sent (and says so), yet reconciles as a peer holding
    nothing: every session it lacks again what it took in the last one."""

    received: int = 0

    async def answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if request.path == "/v1/sync":
            reply = respond(MemoryItemSet(), body)
            return web.Response(body=reply, content_type="application/msgpack")
        if request.path == "/v1/records/fetch":
            return web.Response(body=msgpack.packb([]), content_type="application/msgpack")
        if request.path == "/v1/records":
            wires = msgpack.unpackb(body)
            wires = wires if isinstance(wires, list) else [body]
            self.received += len(wires)
            results = [{"id": parse(w).id.hex(), "stored": True} for w in wires]
            return web.json_response({"results": results})
        return web.Response(status=404)


async def test_a_peer_lacking_what_it_took_is_failing_and_backed_off(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    records = 40
    peer = ForgetfulPeer()
    await peer.start()
    try:
        home = make_home(
            tmp_path,
            "target",
            anti_entropy_interval=INTERVAL,
            max_backoff=60.0,
            learn_peers=False,
        )
        proc = node_process(home)
        await proc.await_ready()
        key = fresh_key()
        async with aiohttp.ClientSession() as session:
            for i in range(records):
                wire = opportunity(key, now_ms() + i, slug=f"r{i}").wire
                async with session.post(proc.url + "/v1/records", data=wire, headers=MSGPACK) as r:
                    assert r.status == 201
            set_peers(home, [peer.url])  # the running node reads it
            await wait_for(lambda: _true(peer.seen["/v1/sync"] >= 2), 20, "two sessions")
            began = time.monotonic()
            sent_before, sessions_before = peer.received, peer.seen["/v1/sync"]
            await asyncio.sleep(WATCH)
            sessions = peer.seen["/v1/sync"] - sessions_before
            resent = peer.received - sent_before
            async with session.get(proc.url + "/v1/peers") as response:
                row: dict[str, Any] = next(
                    r for r in (await response.json())["peers"] if r["url"] == peer.url
                )
    finally:
        await peer.stop()
    print(
        f"\nforgetful peer: {sent_before} records sent before watching; then {sessions} sync"
        f" requests and {resent} records sent again in {time.monotonic() - began:.1f} s"
        f" (interval {INTERVAL} s); /v1/peers failures {row['failures']}, error {row['error']!r}"
    )
    assert row["failures"] >= 1 and "lacked again" in (row["error"] or "")
    assert resent == 0, f"{resent} records sent again to a peer that lacks what it took"
    assert sessions <= WATCH / INTERVAL * 0.6, sessions


async def _true(value: bool) -> bool:
    return value
