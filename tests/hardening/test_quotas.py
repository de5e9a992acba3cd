"""Storage quotas against a node process: one client cannot fill the disk.

* Records of a kind no view reads are held to a tight per-author budget (4 KiB here).
* One client address posting records by ever new authors is held to its own budget (40 KiB
  here): past it, 429 with ``Retry-After``, and the bytes stored level off.
Before the quotas every record was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support import fresh_key, now_ms, opportunity, unknown_kind
from tests.support.nodes import NodeProcess, make_home

KIB = 1024
MSGPACK = {"Content-Type": "application/msgpack"}


async def _post(session: aiohttp.ClientSession, url: str, wire: bytes) -> tuple[int, str | None]:
    async with session.post(url + "/v1/records", data=wire, headers=MSGPACK) as response:
        await response.read()
        return response.status, response.headers.get("Retry-After")


async def test_byte_budgets_per_author_kind_and_client(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(
        tmp_path,
        "target",
        quota_bytes_per_client=40 * KIB,
        quota_bytes_unknown_kind=4 * KIB,
        quota_window=600.0,
    )
    proc = node_process(home)
    await proc.await_ready()
    noter = fresh_key()
    async with aiohttp.ClientSession() as session:
        notes = [
            await _post(session, proc.url, unknown_kind(noter, now_ms() + i, note="n" * KIB).wire)
            for i in range(10)
        ]
        flood = []
        stored_bytes = 0
        for i in range(150):
            wire = opportunity(fresh_key(), now_ms(), slug=f"f{i}", summary="x" * 200).wire
            status, retry = await _post(session, proc.url, wire)
            flood.append((status, retry))
            stored_bytes += len(wire) if status == 201 else 0
    notes_stored = sum(1 for s, _ in notes if s == 201)
    flood_stored = sum(1 for s, _ in flood if s == 201)
    print(
        f"\nunknown kind, 1 KiB each, budget 4 KiB: {notes_stored} of 10 stored;"
        f" 150 records by new authors from one address, budget 40 KiB: {flood_stored} stored"
        f" ({stored_bytes} bytes), {sum(1 for s, _ in flood if s == 429)} answered 429"
    )
    assert 1 <= notes_stored <= 4
    assert all(s == 429 and r for s, r in notes[notes_stored:]), notes
    assert stored_bytes <= 40 * KIB
    assert flood_stored < 150 and all(r for s, r in flood if s == 429)
    assert flood[-1][0] == 429
