"""The live stream on real node processes: federation, resume, and slow subscribers."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import pytest

from protocol.record import Record
from tests.support import Cast, now_ms, opportunity
from tests.support.federation import Api, federation_home, set_peers, start_processes
from tests.support.sse import open_stream

pytestmark = pytest.mark.slow


def jobs(cast: Cast, count: int, start: int = 0, summary: str = "") -> list[Record]:
    t0 = now_ms() - 600_000
    extra = {"summary": summary} if summary else {}
    return [
        opportunity(cast.org if i % 2 else cast.org_b, t0 + i, slug=f"job-{i}", **extra)
        for i in range(start, start + count)
    ]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.usefixtures("federation_engine")  # also on PostgreSQL, 2 workers
async def test_subscriber_sees_500_records_published_over_two_nodes(
    tmp_path: Path, api: Api
) -> None:
    homes = [federation_home(tmp_path, name) for name in ("east", "west")]
    east, west = await start_processes(homes)
    set_peers(homes[0], [west.url])
    set_peers(homes[1], [east.url])
    records = jobs(Cast.fresh(), 500)
    async with (
        aiohttp.ClientSession() as session,
        open_stream(session, east.url, kind="opportunity") as stream,
    ):
        for start in range(0, 500, 50):  # alternate nodes, 50 at a time
            await api.post(east.url if start % 100 else west.url, records[start : start + 50])
        events = await stream.take(500, timeout=120)
    assert sorted(e.json["id"] for e in events) == sorted(r.id.hex() for r in records)
    seqs = [int(e.id or 0) for e in events]
    assert seqs == sorted(set(seqs)), "events arrive in the node's arrival order, once each"


@pytest.mark.usefixtures("federation_engine")  # also on PostgreSQL, 2 workers
async def test_resume_after_disconnect_gets_exactly_what_was_missed(
    tmp_path: Path, api: Api
) -> None:
    (proc,) = await start_processes([federation_home(tmp_path, "solo")])
    records = jobs(Cast.fresh(), 400)
    async with aiohttp.ClientSession() as session:
        async with open_stream(session, proc.url, kind="opportunity") as stream:
            await api.post(proc.url, records[:100])
            seen = await stream.take(100)
            resume = stream.last_id
        publishing = asyncio.create_task(api.post(proc.url, records[100:300]))
        await asyncio.sleep(0.05)
        async with open_stream(session, proc.url, resume, kind="opportunity") as stream:
            await publishing
            await api.post(proc.url, records[300:])
            rest = await stream.take(300)
    assert [e.json["id"] for e in seen + rest] == [r.id.hex() for r in records]


def slow_socket(url: str, path: str) -> socket.socket:
    """A subscriber that reads nothing for now: a tiny receive buffer, the request sent."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return sock


def read_all(sock: socket.socket, timeout: float = 60.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def stream_events(response: bytes) -> list[dict[str, str]]:
    """The events of a raw HTTP/1.1 response with a chunked body."""
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    body = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        body, rest = body + rest[:size], rest[size + 2 :]
    events = []
    for block in body.decode().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "data" in fields:
            events.append(fields)
    return events


async def test_slow_subscribers_overflow_with_a_resume_cursor_and_memory_stays_flat(
    tmp_path: Path, api: Api
) -> None:
    home = federation_home(tmp_path, "solo", stream_buffer_bytes=128 * 1024)
    (proc,) = await start_processes([home])
    cast = Cast.fresh()
    padding = "x" * 2000
    warmup = jobs(cast, 300, summary=padding)
    await api.post(proc.url, warmup)
    baseline = rss_kib(proc.pid)
    slow = [slow_socket(proc.url, "/v1/stream?kind=opportunity") for _ in range(20)]
    await asyncio.sleep(0.5)
    records = jobs(cast, 3000, start=300, summary=padding)  # ~7 MB of events per subscriber
    for start in range(0, len(records), 20):
        await api.post(proc.url, records[start : start + 20])
    grown = rss_kib(proc.pid) - baseline
    # unbounded, 20 subscribers would hold ~140 MB of events; bounded, 20 x 128 KiB
    assert grown < 40 * 1024, f"node RSS grew by {grown} KiB"
    texts = await asyncio.gather(*(asyncio.to_thread(read_all, s) for s in slow))
    for sock in slow:
        sock.close()
    ids = [r.id.hex() for r in records]
    for text in texts:
        *events, final = stream_events(text)
        assert final["event"] == "overflow", final
        data = json.loads(final["data"])
        assert data["class"] == "overflow" and data["resume"] == final["id"] == events[-1]["id"]
        delivered = [json.loads(e["data"])["id"] for e in events]
        assert delivered == ids[: len(delivered)] and len(delivered) < len(ids)
    async with (
        aiohttp.ClientSession() as session,
        open_stream(session, proc.url, data["resume"], kind="opportunity") as stream,
    ):
        rest = await stream.take(len(ids) - len(delivered), timeout=120)
    assert [e.json["id"] for e in rest] == ids[len(delivered) :]
