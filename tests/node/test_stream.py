"""``GET /v1/stream`` on a real in-process node: live events, filters, resume, heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest

from node.api import stream as stream_module
from node.api.streamhub import StreamHub
from node.service import Node
from protocol.record import Record
from tests.support import (
    Cast,
    alliance,
    attestation,
    base_url,
    did,
    make_home,
    now_ms,
    opportunity,
    org_did,
    running_node,
)
from tests.support.sse import open_stream

MSGPACK = "application/msgpack"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(make_home(tmp_path, "acme", stream_heartbeat=0.3)) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def jobs(cast: Cast, count: int, start: int = 0) -> list[Record]:
    t0 = now_ms() - 60_000
    return [
        opportunity(cast.org if i % 2 else cast.org_b, t0 + i, slug=f"job-{i}", title=f"Job {i}")
        for i in range(start, start + count)
    ]


async def post(session: aiohttp.ClientSession, url: str, records: list[Record]) -> None:
    for record in records:
        async with session.post(
            f"{url}/v1/records", data=record.wire, headers={"Content-Type": MSGPACK}
        ) as response:
            assert response.status in (200, 201), await response.text()


async def test_live_events_then_resume_gets_exactly_what_was_missed(
    node: Node, session: aiohttp.ClientSession
) -> None:
    url, cast = base_url(node), Cast.fresh()
    first, missed = jobs(cast, 20), jobs(cast, 30, start=20)
    async with open_stream(session, url) as stream:
        await post(session, url, first)
        events = await stream.take(20)
        assert [e.json["id"] for e in events] == [r.id.hex() for r in first]
        assert {e.event for e in events} == {"opportunity"}
        assert all(e.id and e.id.isdigit() for e in events)
        resume = stream.last_id
    await post(session, url, missed)
    async with open_stream(session, url, last_event_id=resume) as stream:
        events = await stream.take(30)
        assert [e.json["id"] for e in events] == [r.id.hex() for r in missed]
        later = jobs(cast, 5, start=50)
        await post(session, url, later)
        assert [e.json["id"] for e in await stream.take(5)] == [r.id.hex() for r in later]


async def test_resume_while_records_keep_arriving_loses_and_repeats_nothing(
    node: Node, session: aiohttp.ClientSession
) -> None:
    url, cast = base_url(node), Cast.fresh()
    records = jobs(cast, 300)
    await post(session, url, records[:100])
    publisher = asyncio.create_task(post(session, url, records[100:]))
    async with open_stream(session, url, since="0") as stream:
        events = await stream.take(301)  # the node's own profile first
        await publisher
    ids = [e.json["id"] for e in events]
    assert ids[1:] == [r.id.hex() for r in records]
    seqs = [int(e.id or 0) for e in events]
    assert seqs == sorted(set(seqs))


async def test_filters_and_heartbeat(node: Node, session: aiohttp.ClientSession) -> None:
    url, cast = base_url(node), Cast.fresh()
    records = jobs(cast, 10)
    async with open_stream(session, url, since="0", author=did(cast.org)) as stream:
        await post(session, url, records)
        events = await stream.take(5)
        assert [e.json["id"] for e in events] == [r.id.hex() for r in records[1::2]]
        await stream.comment("heartbeat", timeout=10)
    async with open_stream(session, url, since="0", kind=["alliance", "org.profile"]) as stream:
        (profile,) = await stream.take(1)
        assert profile.event == "org.profile" and profile.json["author"] == org_did(node)


async def test_bad_cursor_is_a_clear_400(node: Node, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{base_url(node)}/v1/stream", params={"since": "abc"}) as response:
        assert response.status == 400
        assert "since" in (await response.json())["detail"]


async def test_subscribers_with_different_filters_at_once_each_get_exactly_theirs(
    node: Node, session: aiohttp.ClientSession
) -> None:
    """The hub matches each record once per filter (indexed by subject, author or kind) and
    writes each filter's batch to all of its subscribers: several of each filter, at once."""
    url, cast = base_url(node), Cast.fresh()
    t0 = now_ms() - 60_000
    records = [
        *jobs(cast, 6),
        alliance(cast.org, cast.member, t0 + 10),
        attestation(cast.org_b, cast.member, t0 + 11),
        attestation(cast.org, cast.member_b, t0 + 12),
        *jobs(cast, 4, start=6),
    ]
    org, org_b, member = did(cast.org), did(cast.org_b), did(cast.member)
    filters: list[dict[str, Any]] = [
        {},
        {"author": org},
        {"subject": member},
        {"kind": ["attestation", "alliance"]},
        {"kind": "opportunity", "author": org_b},
        {"subject": [member, did(cast.member_b)], "author": org},
    ]
    wanted = [
        records,
        [records[i] for i in (1, 3, 5, 6, 8, 10, 12)],
        records[6:8],
        records[6:9],
        [records[i] for i in (0, 2, 4, 9, 11)],
        [records[6], records[8]],
    ]
    async with contextlib.AsyncExitStack() as stack:
        streams = [
            [await stack.enter_async_context(open_stream(session, url, **f)) for _ in range(2)]
            for f in filters
        ]
        await post(session, url, records)
        for group, expected in zip(streams, wanted, strict=True):
            for stream in group:
                events = await stream.take(len(expected))
                assert [e.json["id"] for e in events] == [r.id.hex() for r in expected]


async def test_an_http_1_0_subscriber_gets_bare_events(node: Node) -> None:
    """HTTP/1.0 has no chunked coding: the events go out bare, the connection ends the stream."""
    url, cast = base_url(node), Cast.fresh()
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /v1/stream HTTP/1.0\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower()
    await asyncio.wait_for(reader.readuntil(b"\n\n"), 20)  # retry and the opening comment
    records = jobs(cast, 3)
    async with aiohttp.ClientSession() as session:
        await post(session, url, records)
    seen = b""
    while seen.count(b"\n\n") < 3:
        seen += await asyncio.wait_for(reader.readuntil(b"\n\n"), 20)
    writer.close()
    frames = seen.decode().split("\n\n")[:3]
    assert [f.split("\n")[0].startswith("id: ") for f in frames] == [True] * 3
    assert all(r.id.hex() in f for r, f in zip(records, frames, strict=True))


async def test_an_overflowed_subscriber_that_never_reads_is_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live events go straight into the transport of a peer that never reads: it overflows,
    and the node lets go of it (unsubscribed, connection closed, nothing left buffered in the
    node's process) within the grace, however long the peer stays silent."""
    monkeypatch.setattr(stream_module, "OVERFLOW_GRACE", 0.5)
    home = make_home(tmp_path, "acme", stream_buffer_bytes=16 * 1024)
    async with running_node(home) as node, aiohttp.ClientSession() as session:
        (hub,) = [h.__self__ for h in node.store.on_commit if isinstance(h.__self__, StreamHub)]
        host, port = base_url(node).removeprefix("http://").split(":")
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stuck, (host, int(port)))
        stuck.send(b"GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
        deadline = asyncio.get_running_loop().time() + 20
        while not any(s.live for s in hub.subscribers):
            assert asyncio.get_running_loop().time() < deadline, "the stream never went live"
            await asyncio.sleep(0.05)
        (sub,) = hub.subscribers
        cast, t0, padding = Cast.fresh(), now_ms() - 60_000, "x" * 2000
        for start in range(0, 4000, 100):
            await post_batch(
                session,
                base_url(node),
                [
                    opportunity(cast.org, t0 + i, slug=f"job-{i}", summary=padding)
                    for i in range(start, start + 100)
                ],
            )
            if sub.overflowed:
                break
        assert sub.overflowed
        transport = sub.transport
        assert transport is not None
        # closed with its unsent bytes dropped (a close would keep them, and the socket, until
        # the peer reads)
        while (
            sub in hub.subscribers
            or transport.get_write_buffer_size()
            or not (transport.is_closing())
        ):
            assert asyncio.get_running_loop().time() < deadline + 60, "the stuck peer is held"
            await asyncio.sleep(0.05)
        stuck.close()


async def post_batch(session: aiohttp.ClientSession, url: str, records: list[Record]) -> None:
    body = msgpack.packb([r.wire for r in records], use_bin_type=True)
    async with session.post(
        f"{url}/v1/records", data=body, headers={"Content-Type": MSGPACK}
    ) as response:
        assert response.status == 200, await response.text()
