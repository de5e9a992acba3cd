"""Rate limits that count what matters, against a node process.

* Every request counts against its address: GETs too, and signing each request with a fresh
  key buys no fresh bucket (before: only POSTs were limited, and per signing key).
* 429 always carries ``Retry-After``.
* A full replay cache refuses new signatures with 503 + ``Retry-After`` instead of forgetting
  live ones (before: the oldest live signature was dropped, and could be replayed).
* A request signed for another host is refused whatever its ``Host`` header says (before: the
  node checked the signature against the URL built from ``Host``); one signed for a configured
  ``url_aliases`` entry is accepted.
* A known peer's key has a bucket of its own, whatever addresses it signs from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from crypto import SigningKey
from node.federation.peersfile import SeedPeer, write_peers
from node.transport import sign_request
from tests.support import did
from tests.support.nodes import NodeProcess, free_port, make_home

RATE, BURST = 5.0, 10.0


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    path: str,
    key: SigningKey | None = None,
    signed_for: str | None = None,
    host: str | None = None,
) -> tuple[int, str | None]:
    headers: dict[str, str] = {}
    if host:
        headers["Host"] = host
    if key is not None:
        target = (signed_for or url) + path
        headers.update(
            sign_request(key, method="GET", url=target, headers={}, body=b"", now=int(time.time()))
        )
    async with session.get(url + path, headers=headers) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def test_every_request_counts_against_its_address(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target", rate_limit=RATE, rate_burst=BURST))
    await proc.await_ready()
    async with aiohttp.ClientSession() as session:
        plain = [await _get(session, proc.url, "/v1/records") for _ in range(30)]
        await asyncio.sleep((BURST + 1) / RATE)  # the bucket refills
        fresh_keys = [
            await _get(session, proc.url, "/v1/peers", key=SigningKey.generate()) for _ in range(30)
        ]
    for name, answers in (("unsigned GETs", plain), ("GETs signed by 30 fresh keys", fresh_keys)):
        limited = [a for a in answers if a[0] == 429]
        print(f"\n{name}: {len(limited)} of {len(answers)} answered 429")
        assert len(limited) >= len(answers) - BURST - 3, answers
        assert all(retry is not None and int(retry) >= 1 for _, retry in limited), limited


async def test_full_replay_cache_refuses_rather_than_forgets(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target", replay_cache_size=5))
    await proc.await_ready()
    key = SigningKey.generate()
    async with aiohttp.ClientSession() as session:
        answers = [await _get(session, proc.url, "/v1/peers", key=key) for _ in range(8)]
    print(f"\nsigned GETs with a replay cache of 5: {[a[0] for a in answers]}")
    assert [a[0] for a in answers[:5]] == [200] * 5
    assert all(status == 503 and retry for status, retry in answers[5:]), answers


async def test_request_signed_for_another_host_is_refused(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target"))
    await proc.await_ready()
    key = SigningKey.generate()
    other = "http://honest-peer.example:8470"
    async with aiohttp.ClientSession() as session:
        forged = await _get(
            session, proc.url, "/v1/peers", key=key, signed_for=other, host=other[7:]
        )
        own = await _get(session, proc.url, "/v1/peers", key=key)
    print(f"\nsigned for {other}, sent with its Host: {forged[0]}; signed for the node: {own[0]}")
    assert forged[0] == 401
    assert own[0] == 200


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path, "target", rate_limit=RATE, rate_burst=BURST, trusted_proxies=["127.0.0.1"]
    )
    proc = node_process(home)
    await proc.await_ready()
    async with aiohttp.ClientSession() as session:

        async def get(forwarded: str) -> int:
            headers = {"X-Forwarded-For": forwarded}
            async with session.get(proc.url + "/v1/records", headers=headers) as response:
                await response.read()
                return response.status

        many = [await get(f"203.0.113.{i}") for i in range(30)]
        one = [await get("198.51.100.7, 203.0.113.200") for _ in range(30)]
    print(
        f"\nthrough a trusted proxy: 30 clients {many.count(429)} x 429,"
        f" one client {one.count(429)}"
    )
    assert many.count(429) == 0
    assert one.count(429) >= 30 - BURST - 3


async def test_a_known_peer_key_has_its_own_bucket(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    """A pinned peer signing from ten addresses (three requests each, well within every
    address's bucket) still spends one key bucket: 429 with ``Retry-After`` past its burst. An
    unknown key doing the same gets no bucket, so nothing of it is limited."""
    peer, stranger = SigningKey.generate(), SigningKey.generate()
    home = make_home(tmp_path, "target", rate_limit=RATE, rate_burst=BURST, learn_peers=False)
    write_peers(home / "peers.toml", [SeedPeer(f"http://127.0.0.1:{free_port()}", "", did(peer))])
    proc = node_process(home)
    await proc.await_ready()

    async def from_ten_addresses(key: SigningKey, first: int) -> list[tuple[int, str | None]]:
        answers = []
        for n in range(first, first + 10):
            connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{n}", 0))
            async with aiohttp.ClientSession(connector=connector) as session:
                answers += [await _get(session, proc.url, "/v1/peers", key=key) for _ in range(3)]
        return answers

    known = await from_ten_addresses(peer, 10)
    unknown = await from_ten_addresses(stranger, 30)
    limited = [a for a in known if a[0] == 429]
    print(
        f"\nknown peer, 30 signed GETs from 10 addresses: {len(limited)} answered 429;"
        f" unknown key, the same: {sum(1 for s, _ in unknown if s == 429)}"
    )
    assert len(limited) >= 30 - BURST - 3, known
    assert all(retry is not None and int(retry) >= 1 for _, retry in limited), limited
    assert all(status == 200 for status, _ in unknown), unknown


async def test_a_request_signed_for_a_url_alias_is_accepted(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    alias = "https://rakuichi.example"
    proc = node_process(make_home(tmp_path, "target", url_aliases=[alias]))
    await proc.await_ready()
    key = SigningKey.generate()
    async with aiohttp.ClientSession() as session:
        aliased = await _get(session, proc.url, "/v1/peers", key=key, signed_for=alias)
        other = await _get(
            session, proc.url, "/v1/peers", key=key, signed_for="https://other.example"
        )
    print(f"\nsigned for the alias {alias}: {aliased[0]}; for another host: {other[0]}")
    assert aliased[0] == 200
    assert other[0] == 401
