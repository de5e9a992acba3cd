"""Storage faults answered as faults, by a node process.

* Under the free-disk floor, writes get 507 ``storage-full`` with ``Retry-After`` while reads
  keep working, and the fault is logged once (before: records were stored regardless).
* A database locked by another process answers 503 ``storage-busy`` with ``Retry-After``,
  logged once, and writes work again once the lock goes (before: 500 with a traceback each).
* A damaged database is refused at start with one clear line (before: the node started and
  wrote into it).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support import fresh_key, now_ms, opportunity
from tests.support.nodes import NodeProcess, make_home

MSGPACK = {"Content-Type": "application/msgpack"}


async def _post(session: aiohttp.ClientSession, url: str, wire: bytes) -> tuple[int, dict, str]:
    async with session.post(url + "/v1/records", data=wire, headers=MSGPACK) as response:
        return response.status, dict(response.headers), await response.text()


async def test_writes_refused_under_the_free_disk_floor_reads_work(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target", free_disk_floor=2**60))
    await proc.await_ready()
    key = fresh_key()
    async with aiohttp.ClientSession() as session:
        answers = [
            await _post(session, proc.url, opportunity(key, now_ms(), slug=f"s{i}").wire)
            for i in range(5)
        ]
        async with session.get(proc.url + "/v1/records") as response:
            read_status = response.status
    proc.terminate()
    logged = proc.errors().count("storage-full") + proc.output().count("storage-full")
    print(
        f"\nunder the floor: writes {[a[0] for a in answers]}, read {read_status}, logged {logged}x"
    )
    assert all(status == 507 and "storage-full" in body for status, _, body in answers), answers
    assert all(headers.get("Retry-After") for _, headers, _ in answers)
    assert read_status == 200
    assert logged == 1


async def test_locked_database_answers_503_and_recovers(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "target")
    proc = node_process(home)
    await proc.await_ready()
    key = fresh_key()
    lock = sqlite3.connect(home / "rakuichi.db", timeout=30, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        async with aiohttp.ClientSession() as session:
            start = time.monotonic()
            locked = await asyncio.gather(
                *(
                    _post(session, proc.url, opportunity(key, now_ms(), slug=f"l{i}").wire)
                    for i in range(3)
                )
            )
            waited = time.monotonic() - start
            lock.execute("ROLLBACK")
            after = await _post(session, proc.url, opportunity(key, now_ms(), slug="ok").wire)
    finally:
        lock.close()
    proc.terminate()
    log = proc.errors() + proc.output()
    print(
        f"\nlocked: {[a[0] for a in locked]} after {waited:.1f} s, then {after[0]};"
        f" logged {log.count('storage-busy')}x, tracebacks {log.count('Traceback')}"
    )
    assert all(status == 503 and headers.get("Retry-After") for status, headers, _ in locked)
    assert after[0] == 201
    assert log.count("storage-busy") == 1 and "Traceback" not in log


async def test_damaged_database_is_refused_at_start(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    home = make_home(tmp_path, "target")
    proc = node_process(home)
    await proc.await_ready()
    key = fresh_key()
    async with aiohttp.ClientSession() as session:
        for i in range(40):
            await _post(session, proc.url, opportunity(key, now_ms(), slug=f"d{i}").wire)
    assert proc.terminate() == 0
    database = home / "rakuichi.db"
    data = bytearray(database.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page
    for number in range(pages - 2, pages):  # damage the last two pages (records, indexes)
        data[number * page + 8 : number * page + page - 8] = b"\xa5" * (page - 16)
    database.write_bytes(bytes(data))
    proc.start()
    deadline = time.monotonic() + 20
    while proc.running and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    still_running = proc.running
    if still_running:
        proc.kill()
    said = proc.output() + proc.errors()
    print(f"\ndamaged database: exited {not still_running}, said {said.strip().splitlines()[-1:]}")
    assert not still_running, "the node started on a damaged database"
    assert "damaged" in said and "Traceback" not in said
