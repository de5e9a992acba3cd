"""Storage faults answered as faults, by a node process.

* Under the free-disk floor, writes get 507 ``storage-full`` with ``Retry-After`` while reads
  keep working, and the fault is logged once (before: records were stored regardless).
* A database locked by another process answers 503 ``storage-busy`` with ``Retry-After``,
  logged once, and writes work again once the lock goes (before: 500 with a traceback each).
* SQLite's own "database or disk is full" (its file system runs out of space) answers 507
  with ``Retry-After``, logged once, while reads keep working.
* A damaged database is refused at start with one clear line (before: the node started and
  wrote into it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

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
    # a clean stop leaves a marker that lets the next start skip the quick check, as long as
    # nothing writes the file in between — as the damage below does
    assert (home / "rakuichi.db-clean").exists()
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


@contextlib.contextmanager
def _small_disk(where: Path) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` (needs root or CAP_SYS_ADMIN; else the test is skipped):
    a real file system that runs out of space, so SQLite itself says "database or disk is
    full" (``PRAGMA max_page_count`` would do, but it is not kept in the file)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()[:100]}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def _shrink(disk: Path, room: int) -> int:
    """Leave ``room`` bytes free on the tmpfs at ``disk``; the size it now has."""
    size = shutil.disk_usage(disk).used + room
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", "tmpfs", str(disk)], check=True, capture_output=True
    )
    return size


async def test_a_full_database_answers_507_reads_work(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        home = make_home(
            tmp_path, "target", storage_url=f"sqlite:///{disk}/rakuichi.db", free_disk_floor=0
        )
        proc = node_process(home)
        await proc.await_ready()
        key = fresh_key()
        async with aiohttp.ClientSession() as session:
            first = opportunity(key, now_ms(), slug="first")
            assert (await _post(session, proc.url, first.wire))[0] == 201
            size = _shrink(disk, 256 * 1024)
            answers = []
            for i in range(600):  # about 1.3 KiB each: the disk is full well before the end
                wire = opportunity(key, now_ms(), slug=f"f{i}", summary="x" * 1000).wire
                answers.append(await _post(session, proc.url, wire))
                if len(answers) > 5 and all(a[0] == 507 for a in answers[-5:]):
                    break
            async with session.get(proc.url + "/v1/records?limit=10") as response:
                listed = response.status
            async with session.get(f"{proc.url}/v1/records/{first.id.hex()}") as response:
                by_id = response.status
        proc.terminate()
    log = proc.errors() + proc.output()
    statuses = [a[0] for a in answers]
    full = [a for a in answers if a[0] == 507]
    print(
        f"\ndatabase on a {size // 1024} KiB tmpfs: {statuses.count(201)} stored, then"
        f" {statuses[statuses.index(507) :] if 507 in statuses else statuses[-5:]};"
        f" reads {listed}, {by_id}; logged {log.count('storage-full')}x,"
        f" tracebacks {log.count('Traceback')}"
    )
    assert statuses.count(201) >= 1 and full, statuses
    assert statuses[statuses.index(507) :] == [507] * len(full), statuses
    assert all("storage-full" in body and headers.get("Retry-After") for _, headers, body in full)
    assert listed == 200 and by_id == 200
    assert log.count("storage-full") == 1 and "Traceback" not in log
