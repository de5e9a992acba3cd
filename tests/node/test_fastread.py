"""Reads by id answered under aiohttp (``node.api.fastread``, ``node.guard``): the same bytes
as aiohttp's answer, and every request it must not answer left to aiohttp.

The node is real (in process, on a 127.0.0.1 port, SQLite); requests are raw bytes on sockets,
so that what a client sends (pipelined heads, a head in pieces, a body) is exactly what the
node's protocol sees.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgpack
import pytest

from node.api.fastread import MAX_HEAD, ReadById, bodiless_heads, may_become_a_read, parse
from node.config import load_config
from node.guard import GuardedSite, aiohttp_fits
from node.runner import RunningNode, start_node, stop_node
from protocol import Record
from tests.support import Cast, make_home, now_ms, one_of_every_kind

ID = "ab" * 32
READ = f"GET /v1/records/{ID} HTTP/1.1\r\nHost: n\r\n\r\n".encode()


# ----- the parse (pure)


def test_a_plain_read_is_parsed_with_the_headers_its_answer_depends_on() -> None:
    assert parse(READ) == ReadById(bytes.fromhex(ID), wants_wire=False, cross_origin=False)
    upper = READ.replace(ID.encode(), ID.upper().encode())
    assert parse(upper) == parse(READ)
    wire = READ.replace(b"\r\n\r\n", b"\r\nAccept: text/html, application/msgpack\r\n\r\n")
    assert parse(wire) == ReadById(bytes.fromhex(ID), wants_wire=True, cross_origin=False)
    browser = (
        f"GET /v1/records/{ID} HTTP/1.1\r\nHost: n\r\nOrigin: https://a.example\r\n"
        "User-Agent: x/1\r\nAccept-Encoding: gzip\r\nSec-Fetch-Mode: cors\r\n"
        "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    assert parse(browser) == ReadById(bytes.fromhex(ID), wants_wire=False, cross_origin=True)


@pytest.mark.parametrize(
    "data",
    [
        READ.replace(b"GET", b"HEAD"),
        READ.replace(b"HTTP/1.1", b"HTTP/1.0"),
        READ.replace(ID.encode(), ID.encode() + b"?x=1"),
        READ.replace(ID.encode(), ID[:-1].encode()),
        READ.replace(ID.encode(), b"%61" + ID[2:].encode()),
        READ.replace(b"/v1/records/", b"/v1/records//"),
        READ[:-2],  # a head not yet complete
        READ + READ,  # two requests in one chunk
        READ + b"x",
        READ.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\nhello"),
        READ.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nIf-None-Match: *\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nSignature: sig1=:AA==:\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nX-Unknown: 1\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nHost: m\r\n\r\n"),  # a repeated header
        READ.replace(b"\r\n\r\n", b"\r\nBad Name: 1\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nAccept: a\r\n b\r\n\r\n"),  # obsolete folding
        READ.replace(b"\r\n\r\n", b"\r\nAccept: \x01\r\n\r\n"),
        READ.replace(b"\r\n\r\n", b"\r\nAccept\r\n\r\n"),
        READ.replace(b"Host: n\r\n", b"Host: n\n"),  # a bare line feed
    ],
)
def test_anything_else_is_left_to_aiohttp(data: bytes) -> None:
    assert parse(data) is None


def test_a_head_longer_than_aiohttp_takes_is_left_to_it() -> None:
    long = READ.replace(b"\r\n\r\n", b"\r\nUser-Agent: " + b"a" * MAX_HEAD + b"\r\n\r\n")
    assert parse(long) is None


def test_only_what_may_become_a_read_is_held_back() -> None:
    for piece in (b"G", b"GET /v1/rec", READ[:40], READ[:-1]):
        assert may_become_a_read(piece), piece
    for piece in (
        b"\x16\x03\x01\x02\x00",  # a TLS hello on the plain port
        b"POST /v1/records HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\n",
        READ[:100].replace(b"\r\n", b"\n"),  # bare line feeds: aiohttp decides at once
        b"GET /v1/records/" + b"a" * MAX_HEAD,
    ):
        assert not may_become_a_read(piece), piece


def test_bodiless_heads_are_what_leaves_aiohttp_holding_nothing() -> None:
    assert bodiless_heads(READ)
    assert bodiless_heads(READ + READ)
    assert bodiless_heads(READ.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"))
    assert not bodiless_heads(READ[:-1])
    assert not bodiless_heads(READ.replace(b"\r\n\r\n", b"\r\ncontent-length: 3\r\n\r\nabc"))
    assert not bodiless_heads(READ.replace(b"\r\n\r\n", b"\r\nContent-Length: 4\r\n\r\n\r\n\r\n"))
    assert not bodiless_heads(READ.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n"))
    assert not bodiless_heads(READ.replace(b"\r\n\r\n", b"\r\nUpgrade: websocket\r\n\r\n"))


def test_this_aiohttp_has_what_the_fast_reads_rely_on() -> None:
    assert aiohttp_fits()


# ----- a real node


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[RunningNode, list[Record]]]:
    home = make_home(tmp_path, "acme", rate_limit=1000.0, idle_timeout=1.0)
    running = await start_node(load_config(home), verifier_workers=0)
    records = one_of_every_kind(Cast.fresh(), now_ms() - 60_000)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                running.node.config.public_url + "/v1/records",
                data=msgpack.packb([r.wire for r in records]),
                headers={"Content-Type": "application/msgpack"},
            ) as response,
        ):
            assert response.status == 200, await response.text()
        yield running, records
    finally:
        await stop_node(running)


def answered_fast(running: RunningNode) -> int:
    (site,) = running.runner.sites
    assert isinstance(site, GuardedSite) and site.guard.fast is not None
    return site.guard.fast.answered


class Client:
    """One keep-alive connection that sends raw bytes and reads whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, running: RunningNode) -> Client:
        host, port = running.node.config.host_port
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[str, list[tuple[str, str]], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        fields = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        length = int(dict((n.lower(), v) for n, v in fields).get("content-length", "0"))
        return status, fields, await self.reader.readexactly(length)

    async def ask(self, data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        await self.send(data)
        return await self.answer()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def read_of(record_id: bytes, *fields: str) -> bytes:
    extra = "".join(f"{f}\r\n" for f in fields)
    return f"GET /v1/records/{record_id.hex()} HTTP/1.1\r\nHost: n\r\n{extra}\r\n".encode()


def comparable(answer: tuple[str, list[tuple[str, str]], bytes]) -> object:
    """An answer without what differs from one request to the next: the date and the tokens
    left in the client's bucket."""
    status, fields, body = answer
    kept = [
        (n, re.sub(r";r=\d+", ";r=N", v) if n == "RateLimit" else v)
        for n, v in fields
        if n != "Date"
    ]
    return status, kept, body


@pytest.mark.parametrize(
    "fields",
    [
        (),
        ("Accept: application/msgpack",),
        ("Accept: application/json",),
        ("Origin: https://board.example",),
        ("Origin: https://board.example", "Accept: application/msgpack"),
        ("User-Agent: wallet/1", "Accept-Encoding: gzip, br", "Connection: keep-alive"),
    ],
)
async def test_answers_are_aiohttps_byte_for_byte(
    served: tuple[RunningNode, list[Record]], fields: tuple[str, ...]
) -> None:
    running, records = served
    client = await Client.open(running)
    try:
        for record in records:
            before = answered_fast(running)
            fast = await client.ask(read_of(record.id, *fields))
            through_aiohttp = await client.ask(read_of(record.id, *fields, "X-Through: aiohttp"))
            assert comparable(fast) == comparable(through_aiohttp), record.kind
            # a live record is answered under aiohttp; a retracted one (410) by aiohttp
            assert fast[0] in ("HTTP/1.1 200 OK", "HTTP/1.1 410 Gone"), fast[0]
            assert answered_fast(running) == before + (fast[0] == "HTTP/1.1 200 OK")
    finally:
        await client.close()


async def test_unknown_ids_and_other_routes_are_aiohttps(
    served: tuple[RunningNode, list[Record]],
) -> None:
    running, records = served
    client = await Client.open(running)
    try:
        status, _, _ = await client.ask(read_of(b"\x01" * 32))
        assert status == "HTTP/1.1 404 Not Found"
        status, _, body = await client.ask(b"GET /v1/records?limit=2 HTTP/1.1\r\nHost: n\r\n\r\n")
        assert status == "HTTP/1.1 200 OK" and b'"records"' in body
        status, _, _ = await client.ask(read_of(records[0].id, "If-None-Match: *"))
        assert status == "HTTP/1.1 304 Not Modified"
        assert answered_fast(running) == 0
        # aiohttp answered everything it was handed: the next plain read is answered fast
        status, _, _ = await client.ask(read_of(records[0].id))
        assert status == "HTTP/1.1 200 OK" and answered_fast(running) == 1
    finally:
        await client.close()


async def test_pipelined_reads_keep_their_order(served: tuple[RunningNode, list[Record]]) -> None:
    running, records = served
    live = records[:4]
    client = await Client.open(running)
    try:
        await client.send(b"".join(read_of(r.id) for r in live))
        for record in live:
            _, fields, body = await client.answer()
            assert ("ETag", f'"{record.id.hex()}"') in fields and record.id.hex().encode() in body
        status, _, _ = await client.ask(read_of(live[0].id))
        assert status == "HTTP/1.1 200 OK"
        assert answered_fast(running) == 1  # the pipelined four went to aiohttp, in order
    finally:
        await client.close()


async def test_a_head_in_pieces_is_answered_once_whole(
    served: tuple[RunningNode, list[Record]],
) -> None:
    running, records = served
    data = read_of(records[0].id)
    client = await Client.open(running)
    try:
        for cut in (1, 20, len(data) - 2, len(data) - 1):
            await client.send(data[:cut])
            await asyncio.sleep(0.02)
            status, _, body = await client.ask(data[cut:])
            assert status == "HTTP/1.1 200 OK" and records[0].id.hex().encode() in body
        assert answered_fast(running) == 4
    finally:
        await client.close()


async def test_a_body_leaves_the_connection_to_aiohttp(
    served: tuple[RunningNode, list[Record]],
) -> None:
    running, records = served
    record = records[0]
    client = await Client.open(running)
    try:
        status, _, _ = await client.ask(
            b"POST /v1/records HTTP/1.1\r\nHost: n\r\nContent-Type: application/msgpack\r\n"
            + f"Content-Length: {len(record.wire)}\r\n\r\n".encode()
            + record.wire
        )
        assert status == "HTTP/1.1 200 OK"
        for _ in range(3):
            status, _, body = await client.ask(read_of(record.id))
            assert status == "HTTP/1.1 200 OK" and record.id.hex().encode() in body
    finally:
        await client.close()
    assert answered_fast(running) == 0


async def test_a_long_head_in_pieces_is_aiohttps(served: tuple[RunningNode, list[Record]]) -> None:
    """Past ``MAX_HEAD`` the pieces go to aiohttp as they come, and it answers."""
    running, records = served
    padding = "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(MAX_HEAD // 1000 + 2))
    data = read_of(records[0].id).replace(b"\r\n\r\n", f"\r\n{padding}\r\n".encode())
    client = await Client.open(running)
    try:
        await client.send(data[: MAX_HEAD + 10])
        await asyncio.sleep(0.02)
        status, _, _ = await client.ask(data[MAX_HEAD + 10 :])
        assert status == "HTTP/1.1 200 OK", status
    finally:
        await client.close()
    assert answered_fast(running) == 0


async def test_half_a_head_then_the_end_of_the_stream(
    served: tuple[RunningNode, list[Record]],
) -> None:
    running, records = served
    client = await Client.open(running)
    try:
        await client.send(read_of(records[0].id)[:30])
        client.writer.write_eof()
        assert await asyncio.wait_for(client.reader.read(), 5) == b""  # closed, nothing answered
    finally:
        await client.close()
    assert answered_fast(running) == 0


async def test_the_rate_limit_holds_and_aiohttp_says_429(tmp_path: Path) -> None:
    home = make_home(tmp_path, "acme", rate_limit=0.5, rate_burst=3.0)
    running = await start_node(load_config(home), verifier_workers=0)
    try:
        record = one_of_every_kind(Cast.fresh(), now_ms() - 60_000)[0]
        await running.node.store.add([record], now_ms())
        client = await Client.open(running)
        answers = [await client.ask(read_of(record.id)) for _ in range(6)]
        await client.close()
    finally:
        await stop_node(running)
    statuses = [a[0].split(" ", 2)[1] for a in answers]
    assert statuses[:3] == ["200"] * 3 and set(statuses[3:]) == {"429"}, statuses
    assert all(("Retry-After" in dict(a[1])) for a in answers[3:])
    remaining = [dict(a[1])["RateLimit"] for a in answers[:3]]
    assert remaining == ['"address";r=2;t=2', '"address";r=1;t=4', '"address";r=0;t=6'], remaining


async def test_fast_reads_are_counted_and_logged(
    served: tuple[RunningNode, list[Record]], caplog: pytest.LogCaptureFixture
) -> None:
    running, records = served
    url = running.node.config.public_url
    client = await Client.open(running)
    try:
        with caplog.at_level(logging.INFO, logger="rakuichi.access"):
            for _ in range(3):
                await client.ask(read_of(records[0].id))
    finally:
        await client.close()
    lines = [r for r in caplog.records if f"/v1/records/{records[0].id.hex()}" in r.getMessage()]
    assert len(lines) == 3
    assert all('"GET ' in r.getMessage() and '" 200 ' in r.getMessage() for r in lines), lines
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        text = await response.text()
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("rakuichi_http_requests_total{")
        and 'route="/v1/records/{id}"' in line
        and 'method="GET"' in line
        and 'status="200"' in line
    ]
    assert counted == [3.0], text[:3000]


async def test_kept_alive_while_in_use_and_closed_when_idle(
    served: tuple[RunningNode, list[Record]],
) -> None:
    running, records = served  # idle_timeout = 1 s
    client = await Client.open(running)
    try:
        for _ in range(8):  # 1.6 s of reads 0.2 s apart, all on this one connection
            status, _, _ = await client.ask(read_of(records[0].id))
            assert status == "HTTP/1.1 200 OK"
            await asyncio.sleep(0.2)
        assert answered_fast(running) == 8
        closed = await asyncio.wait_for(client.reader.read(), 5)  # EOF once idle past 1 s
        assert closed == b""
    finally:
        await client.close()


def _variant(rng: random.Random, record_ids: list[bytes]) -> list[bytes]:
    """A read by id in one of the forms clients send (names in any case, optional white space,
    harmless headers in any order), cut into the pieces it is sent in."""
    record_id = rng.choice(record_ids)
    text = record_id.hex().upper() if rng.random() < 0.2 else record_id.hex()
    fields = [("Host", "n")]
    optional = [
        ("Accept", rng.choice(["application/msgpack", "application/json", "*/*", "text/html"])),
        ("Origin", "https://board.example"),
        ("User-Agent", "client/1.0 (x)"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept-Language", "ja, en;q=0.5"),
        ("Content-Length", "0"),
        ("Connection", "keep-alive"),
        ("Cache-Control", "no-cache"),
        ("Sec-Fetch-Mode", "cors"),
    ]
    fields += rng.sample(optional, rng.randint(0, len(optional)))
    rng.shuffle(fields)
    lines = []
    for name, value in fields:
        name = rng.choice([name, name.lower(), name.upper()])
        lines.append(f"{name}:{rng.choice(['', ' ', '  ', chr(9)])}{value}{rng.choice(['', ' '])}")
    data = f"GET /v1/records/{text} HTTP/1.1\r\n{''.join(x + chr(13) + chr(10) for x in lines)}\r\n"
    raw = data.encode()
    if rng.random() < 0.15:
        cut = rng.randint(1, len(raw) - 1)
        return [raw[:cut], raw[cut:]]
    return [raw]


async def test_clients_forms_of_a_read_get_aiohttps_answer(
    served: tuple[RunningNode, list[Record]],
) -> None:
    """Differential: 150 reads in the forms clients send, each answered as sent and again with
    a header that sends it through aiohttp; the answers must be the same."""
    running, records = served
    ids = [r.id for r in records] + [b"\x02" * 32]  # live, retracted and unknown ids
    rng = random.Random(16)
    client = await Client.open(running)
    try:
        for _ in range(150):
            pieces = _variant(rng, ids)
            for piece in pieces:
                await client.send(piece)
                await asyncio.sleep(0.001 if len(pieces) > 1 else 0)
            as_sent = await client.answer()
            slow = b"".join(pieces).replace(b"\r\n\r\n", b"\r\nX-Through: aiohttp\r\n\r\n")
            assert comparable(as_sent) == comparable(await client.ask(slow)), pieces
    finally:
        await client.close()
    assert answered_fast(running) > 50  # most forms were answered beneath aiohttp


def _logged(records: list[logging.LogRecord], path: str) -> list[str]:
    """The access-log lines for ``path``, without the time each took."""
    return [
        re.sub(r" [0-9.]+ms$", "", r.getMessage())
        for r in records
        if f' {path}" ' in r.getMessage()
    ]


async def test_the_access_log_line_is_aiohttps(
    served: tuple[RunningNode, list[Record]], caplog: pytest.LogCaptureFixture
) -> None:
    running, records = served
    path = f"/v1/records/{records[0].id.hex()}"
    client = await Client.open(running)
    try:
        with caplog.at_level(logging.INFO, logger="rakuichi.access"):
            fast = await client.ask(read_of(records[0].id))
            slow = await client.ask(read_of(records[0].id, "X-Through: aiohttp"))
    finally:
        await client.close()
    assert comparable(fast) == comparable(slow)
    lines = _logged(caplog.records, path)
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert lines[0].endswith(f" 200 {len(fast[2])}"), lines  # the body's length, both ways


async def test_bytes_that_cannot_be_a_read_reach_aiohttp_at_once(
    served: tuple[RunningNode, list[Record]],
) -> None:
    """Nothing is held back that aiohttp would refuse now: it answers within a second
    (the header timeout is 10 s)."""
    running, records = served
    for first in (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
        f"GET /v1/records/{records[0].id.hex()} HTTP/1.1\nHost: n\n".encode(),  # bare LFs
    ):
        client = await Client.open(running)
        try:
            await client.send(first)
            answer = await asyncio.wait_for(client.reader.read(100), 1.0)
            assert answer == b"" or answer[:12] in (b"HTTP/1.1 400", b"HTTP/1.0 400"), answer
        finally:
            await client.close()
    assert answered_fast(running) == 0


async def test_a_record_whose_view_fails_is_answered_as_the_gate_does(
    served: tuple[RunningNode, list[Record]],
) -> None:
    """A stored row that cannot be rendered (damaged bytes) is aiohttp's: a 500 problem,
    and the connection stays usable."""
    running, records = served
    damaged = records[2]
    with sqlite3.connect(running.node.config.database_path) as db:
        db.execute("UPDATE records SET wire = ? WHERE id = ?", (b"\xc1", damaged.id))
    client = await Client.open(running)
    try:
        status, fields, _ = await client.ask(read_of(damaged.id))
        assert status == "HTTP/1.1 500 Internal Server Error", status
        assert dict(fields)["Content-Type"].startswith("application/problem+json"), fields
        status, _, _ = await client.ask(read_of(records[0].id))
        assert status == "HTTP/1.1 200 OK"
    finally:
        await client.close()
    assert answered_fast(running) == 1


async def test_no_keep_alive_means_closed_after_a_fast_answer(tmp_path: Path) -> None:
    """``idle_timeout = 0``: aiohttp closes a connection once it has answered; so is one
    answered beneath it."""
    home = make_home(tmp_path, "acme", idle_timeout=0.0)
    running = await start_node(load_config(home), verifier_workers=0)
    try:
        record = one_of_every_kind(Cast.fresh(), now_ms() - 60_000)[0]
        await running.node.store.add([record], now_ms())
        client = await Client.open(running)
        status, _, _ = await client.ask(read_of(record.id))
        assert status == "HTTP/1.1 200 OK" and answered_fast(running) == 1
        assert await asyncio.wait_for(client.reader.read(), 2.0) == b""
        await client.close()
    finally:
        await stop_node(running)


async def test_nothing_is_answered_once_the_node_is_stopping(
    served: tuple[RunningNode, list[Record]],
) -> None:
    """A stopping node's aiohttp closes its connections (``pre_shutdown``) and answers
    nothing more; neither does the fast path."""
    running, records = served
    client = await Client.open(running)
    try:
        status, _, _ = await client.ask(read_of(records[0].id))
        assert status == "HTTP/1.1 200 OK"
        server = running.runner.server
        assert server is not None
        server.pre_shutdown()  # what stopping the runner does first
        await client.send(read_of(records[0].id))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.read(1), 0.5)
    finally:
        await client.close()
    assert answered_fast(running) == 1
