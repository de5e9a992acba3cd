"""Bodies one client cannot use to hold the node's memory, against a node process.

* A single record is refused with 413 as soon as 64 KiB of it have arrived: the client has
  declared 1 MiB and sent 70 KiB, and gets its answer without sending more (before: the node
  waited for the whole declared body, up to ``max_body_bytes``).
* Body bytes in flight across requests are capped: with a 1 MiB budget, a second client
  streaming a large batch while the first holds 600 KiB gets 503 with ``Retry-After``.
* The node raises its soft open-files limit to the hard limit at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.attack import connect, post_head
from tests.support.nodes import NodeProcess, make_home

KIB = 1024


async def test_single_record_refused_as_it_passes_64_kib(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target"))
    await proc.await_ready()
    conn = await connect(proc.url, source="127.0.0.1")
    assert await conn.send(post_head("/v1/records", 1024 * KIB))
    sent = 0
    chunk = b"\x85" + b"\x00" * (10 * KIB - 1)  # a msgpack map (one record), not a batch
    while sent < 70 * KIB:
        assert await conn.send(chunk)
        sent += len(chunk)
        chunk = b"\x00" * (10 * KIB)
    start = time.monotonic()
    status, _, body = await conn.response(5.0)
    waited = time.monotonic() - start
    conn.close()
    print(f"\nrecord of 1 MiB declared, {sent // KIB} KiB sent: {status} after {waited:.2f} s")
    assert status == 413 and b"65536" in body


async def test_body_bytes_in_flight_are_capped(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "target", body_bytes_in_flight=1024 * KIB, body_grace=20.0)
    proc = node_process(home)
    await proc.await_ready()
    first = await connect(proc.url, source="127.0.0.1")
    second = await connect(proc.url, source="127.0.0.1")
    batch_start = b"\xdd\x00\x00\x10\x00"  # msgpack array32 header: a batch
    for conn in (first, second):
        assert await conn.send(post_head("/v1/records", 2000 * KIB))
        assert await conn.send(batch_start)
    assert await first.send(b"\x00" * 600 * KIB)
    await asyncio.sleep(0.5)  # the node reads it
    for _ in range(60):  # up to 600 KiB more from the second client, until the node refuses
        if not await second.send(b"\x00" * 10 * KIB):
            break
    status, headers, _ = await second.response(5.0)
    first.close()
    second.close()
    print(f"\nsecond body past a 1 MiB in-flight budget: {status}, {headers.get('retry-after')}")
    assert status == 503
    assert headers.get("retry-after") == "1"


@contextlib.contextmanager
def lowered_open_files(soft: int) -> Iterator[tuple[int, int]]:
    """This process's (hence its children's) soft open-files limit lowered for a while."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, before[0]), before[1]))
    try:
        yield before
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def _soft_hard(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no open-files line")


async def test_open_files_soft_limit_raised_to_hard(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "target")
    with lowered_open_files(256) as (_, hard):
        proc = node_process(home)
    await proc.await_ready()
    soft_now, hard_now = _soft_hard(proc.pid)
    print(f"\nnode started with soft open-files 256: now {soft_now} (hard {hard_now})")
    assert hard == resource.RLIM_INFINITY or soft_now == hard_now
