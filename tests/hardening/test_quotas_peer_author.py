"""Per-peer and per-author storage quotas against a node process.

* A known peer (its node key pinned in ``peers.toml``) pushing signed records by ever new
  authors is held to ``quota_bytes_per_peer`` (12 KiB here); past it 429 with ``Retry-After``
  and nothing more of it is stored, while an unsigned client at the same address still is.
* Signing each push with a fresh key buys no fresh budget: an unknown signer is counted as
  its client address (before: each fresh key had a peer budget of its own, so the client
  address budget could be dodged by signing).
* One author's records of a known kind are held to ``quota_bytes_per_author`` (8 KiB here),
  and a record refused for its author does not spend its client's budget (before: it did, so
  a client was refused for records never stored).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from crypto import SigningKey
from node.federation.peersfile import SeedPeer, write_peers
from node.transport import sign_request
from tests.support import did, fresh_key, now_ms, opportunity
from tests.support.nodes import NodeProcess, free_port, make_home

KIB = 1024
MSGPACK = {"Content-Type": "application/msgpack"}


async def _post(
    session: aiohttp.ClientSession, url: str, wire: bytes, signer: SigningKey | None = None
) -> tuple[int, str | None]:
    headers = dict(MSGPACK)
    if signer is not None:
        target = url + "/v1/records"
        headers.update(
            sign_request(
                signer, method="POST", url=target, headers=headers, body=wire, now=int(time.time())
            )
        )
    async with session.post(url + "/v1/records", data=wire, headers=headers) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def _held(session: aiohttp.ClientSession, url: str, author: SigningKey) -> int:
    async with session.get(f"{url}/v1/records?author={did(author)}&limit=500") as response:
        return len((await response.json())["records"])


def _client(source: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``source`` (a loopback address)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))


def _spent(answers: list[tuple[int, str | None]]) -> bool:
    """Every answer after the first 429 is a 429 with ``Retry-After``."""
    first = next((i for i, (s, _) in enumerate(answers) if s == 429), len(answers))
    return first < len(answers) and all(s == 429 and r for s, r in answers[first:])


async def test_peer_budget_and_fresh_signers(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    peer = SigningKey.generate()
    home = make_home(
        tmp_path,
        "target",
        quota_bytes_per_peer=12 * KIB,
        quota_bytes_per_client=12 * KIB,
        quota_window=600.0,
        learn_peers=False,
    )
    # pinned, so known; its URL answers nothing (the node's pushes to it just fail)
    write_peers(home / "peers.toml", [SeedPeer(f"http://127.0.0.1:{free_port()}", "", did(peer))])
    proc = node_process(home)
    await proc.await_ready()
    t0 = now_ms()

    def record(i: int, author: SigningKey | None = None) -> bytes:
        return opportunity(author or fresh_key(), t0 + i, slug=f"q{i}", summary="x" * 400).wire

    async with _client("127.0.0.3") as session:
        pushes = [await _post(session, proc.url, record(i), peer) for i in range(60)]
        after_peer = await _post(session, proc.url, record(100))
    async with _client("127.0.0.4") as session:
        fresh = [await _post(session, proc.url, record(200 + i), fresh_key()) for i in range(60)]
    size = len(record(0))
    pushed = sum(1 for s, _ in pushes if s == 201)
    signed_fresh = sum(1 for s, _ in fresh if s == 201)
    print(
        f"\nknown peer, budget 12 KiB: {pushed} of 60 pushes stored ({pushed * size} bytes),"
        f" then 429; unsigned from its address after: {after_peer[0]};"
        f" 60 records signed by fresh keys from one address, client budget 12 KiB:"
        f" {signed_fresh} stored ({signed_fresh * size} bytes)"
    )
    assert pushed >= 1 and pushed * size <= 12 * KIB and _spent(pushes), pushes
    assert after_peer[0] == 201, "the peer's budget is not its address's"
    assert signed_fresh >= 1 and signed_fresh * size <= 12 * KIB and _spent(fresh), fresh


async def test_author_budget_for_a_known_kind(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path,
        "target",
        quota_bytes_per_author=8 * KIB,
        quota_bytes_per_client=20 * KIB,
        quota_window=600.0,
    )
    proc = node_process(home)
    await proc.await_ready()
    author, other = fresh_key(), fresh_key()
    t0 = now_ms()
    wires = [opportunity(author, t0 + i, slug=f"a{i}", summary="x" * 900).wire for i in range(30)]
    async with _client("127.0.0.5") as session:
        answers = [await _post(session, proc.url, wire) for wire in wires]
        others = [
            await _post(session, proc.url, opportunity(other, t0 + i, slug=f"o{i}").wire)
            for i in range(3)
        ]
        held = await _held(session, proc.url, author)
    stored = sum(1 for s, _ in answers if s == 201)
    print(
        f"\none author, {len(wires[0])} bytes each, budget 8 KiB: {stored} of 30 stored,"
        f" {held} held, then 429 (Retry-After {answers[-1][1]}); another author from the same"
        f" client after: {[s for s, _ in others]}"
    )
    assert stored >= 1 and stored * len(wires[0]) <= 8 * KIB and _spent(answers), answers
    assert held == stored
    assert [s for s, _ in others] == [201] * 3, "refused records spent the client's budget"
