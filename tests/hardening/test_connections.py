"""One address holding hundreds of silent or slow connections to a node process.

The attacker (127.0.0.2) opens ``ATTACK`` connections at once: half say nothing, half send
their headers a line at a time (slowloris). The node must close every one of them by its
header deadline (those over the per-address cap at once), and a normal client (127.0.0.1)
must be served quickly meanwhile. Slow bodies and idle kept-alive connections are closed too.
Before the guard, silent connections stayed open for aiohttp's 3630 s keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support.attack import Conn, connect, post_head
from tests.support.nodes import NodeProcess, make_home

ATTACK = 200
CAP = 40
HEADER_TIMEOUT = 1.5
IDLE_TIMEOUT = 2.0
BODY_GRACE = 1.5
SLACK = 3.0  # seconds on top of a deadline before a close counts as late (loaded CI)


async def _normal_latencies(url: str, count: int, pause: float) -> list[float]:
    """Seconds each of ``count`` fresh-connection GETs from 127.0.0.1 took."""
    took = []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(count):
            start = time.monotonic()
            async with session.get(url + "/.well-known/rakuichi") as response:
                assert response.status == 200
                await response.read()
            took.append(time.monotonic() - start)
            await asyncio.sleep(pause)
    return took


async def _slowloris(conn: Conn) -> None:
    if not await conn.send(b"GET /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"):
        return
    for i in range(40):
        await asyncio.sleep(0.25)
        if not await conn.send(f"X-Slow-{i}: a\r\n".encode()):
            return


async def test_silent_and_slow_connections_are_closed_on_time(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path,
        "target",
        header_timeout=HEADER_TIMEOUT,
        idle_timeout=IDLE_TIMEOUT,
        connections_per_address=CAP,
        body_grace=BODY_GRACE,
        body_min_rate=4096,
    )
    proc = node_process(home)
    await proc.await_ready()
    url = proc.url

    conns = [await connect(url) for _ in range(ATTACK)]
    talkers = [asyncio.create_task(_slowloris(c)) for c in conns[::2]]
    latencies = asyncio.create_task(_normal_latencies(url, 10, 0.2))
    closes = await asyncio.gather(*(c.closed_after(HEADER_TIMEOUT + SLACK + 2) for c in conns))
    took = await latencies
    for task in talkers:
        task.cancel()
    for c in conns:
        c.close()

    still_open = sum(1 for t in closes if t is None)
    at_once = sum(1 for t in closes if t is not None and t < HEADER_TIMEOUT * 0.8)
    on_deadline = sorted(t for t in closes if t is not None and t >= HEADER_TIMEOUT * 0.8)
    print(
        f"\n{ATTACK} attack connections: {at_once} closed at once (cap {CAP}),"
        f" {len(on_deadline)} closed at {on_deadline[0] if on_deadline else 0:.2f}"
        f"-{on_deadline[-1] if on_deadline else 0:.2f} s (header deadline {HEADER_TIMEOUT} s),"
        f" {still_open} still open; normal GET latency max {max(took) * 1000:.0f} ms"
    )
    assert still_open == 0, f"{still_open} attack connections outlived the header deadline"
    assert at_once >= ATTACK - CAP, "connections over the per-address cap were not refused"
    assert on_deadline and on_deadline[-1] <= HEADER_TIMEOUT + SLACK
    assert max(took) < 1.0, f"normal requests slowed to {max(took):.2f} s during the attack"


async def test_slow_bodies_and_idle_connections_are_closed(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path,
        "target",
        header_timeout=HEADER_TIMEOUT,
        idle_timeout=IDLE_TIMEOUT,
        body_grace=BODY_GRACE,
        body_min_rate=4096,
    )
    proc = node_process(home)
    await proc.await_ready()
    url = proc.url

    # slow bodies: headers on time, then a byte every 0.25 s (far under 4 KiB/s)
    slow = [await connect(url) for _ in range(10)]
    for conn in slow:
        await conn.send(post_head("/v1/records", 60_000))

    async def dribble(conn: Conn) -> None:
        for _ in range(40):
            await asyncio.sleep(0.25)
            if not await conn.send(b"\x00"):
                return

    dribblers = [asyncio.create_task(dribble(c)) for c in slow]
    answers = await asyncio.gather(*(c.response(BODY_GRACE + SLACK) for c in slow))
    body_closed = await asyncio.gather(*(c.closed_after(BODY_GRACE + SLACK + 1) for c in slow))
    for task in dribblers:
        task.cancel()

    # an idle kept-alive connection: one request answered, then silence
    idle = await connect(url)
    await idle.send(b"GET /.well-known/rakuichi HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _, _ = await idle.response(5.0)
    answered = time.monotonic()
    idle_closed = await idle.closed_after(IDLE_TIMEOUT + SLACK + 5)
    idle_after = None if idle_closed is None else idle.opened + idle_closed - answered
    for c in [*slow, idle]:
        c.close()

    print(
        f"\nslow bodies: {[a[0] for a in answers]} after "
        f"{max(t or 0 for t in body_closed):.2f} s at most (grace {BODY_GRACE} s);"
        f" idle connection closed {idle_after} s after its answer (idle {IDLE_TIMEOUT} s)"
    )
    assert all(a[0] == 408 for a in answers), answers
    assert all(t is not None and t <= BODY_GRACE + SLACK for t in body_closed), body_closed
    assert status == 200
    assert idle_after is not None and IDLE_TIMEOUT * 0.8 <= idle_after <= IDLE_TIMEOUT + SLACK
