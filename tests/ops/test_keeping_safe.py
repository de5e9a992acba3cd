"""Keeping a node safe: backup while it writes, restore, check, migrations (issue 11)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from pathlib import Path

import aiohttp

from node.config import load_config
from node.storage.schema import MIGRATIONS
from node.storage.store import Store
from node.transport import NodeClient, timeouts
from tests.node.test_cli import one_line_failure
from tests.support import NodeProcess, free_port, make_home, run_cli, subprocess_env
from tests.support.federation import Api, http_session
from tests.support.nodes import rakuichi_command
from tests.support.records import Cast, now_ms, opportunity

WRITERS = 64
PER_WRITER = 30


async def _writer(
    url: str, wires: list[bytes], acked: dict[str, float], session: aiohttp.ClientSession
) -> None:
    client = NodeClient(url, session)
    for wire in wires:
        for attempt in range(20):
            try:
                result = await client.post_record(wire)
                break
            except Exception:  # a busy machine: try again, the test only counts acks
                if attempt == 19:
                    raise
                await asyncio.sleep(0.2)
        acked[result["id"]] = time.monotonic()


async def test_a_backup_taken_while_64_clients_write_restores_every_acknowledged_record(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, "busy")
    node = NodeProcess(home).start()
    await node.await_ready(30)
    cast = Cast.fresh()
    t0 = now_ms() - 3_600_000
    batches = [
        [
            opportunity(cast.org, t0 + w * 1000 + i, slug=f"w{w}-r{i}").wire
            for i in range(PER_WRITER)
        ]
        for w in range(WRITERS)
    ]
    acked: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=WRITERS)
    async with aiohttp.ClientSession(timeout=timeouts(total=60), connector=connector) as session:
        writers = [
            asyncio.create_task(_writer(node.url, wires, acked, session)) for wires in batches
        ]
        while len(acked) < WRITERS * PER_WRITER // 3:
            assert not any(w.done() and w.exception() for w in writers)
            await asyncio.sleep(0.01)
        archive = tmp_path / "busy.tar.gz"
        began = time.monotonic()
        before = {rid for rid, at in acked.items() if at < began}
        backup = await asyncio.create_subprocess_exec(
            *rakuichi_command(),
            "backup",
            "--home",
            str(home),
            str(archive),
            env=subprocess_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await backup.communicate()
        ended = time.monotonic()
        assert backup.returncode == 0, err.decode()
        await asyncio.gather(*writers)
    during = [rid for rid, at in acked.items() if began <= at <= ended]
    assert len(acked) == WRITERS * PER_WRITER
    assert "backed up" in out.decode()
    node.terminate()

    restored = tmp_path / "restored"
    result = await asyncio.to_thread(run_cli, "restore", archive, "--home", restored)
    assert result.returncode == 0, result.stderr
    for key in ("org.key", "node.key"):
        assert (restored / key).read_bytes() == (home / key).read_bytes()
        assert stat.S_IMODE((restored / key).stat().st_mode) == 0o600
    for name in ("config.toml", "peers.toml"):
        assert (restored / name).read_bytes() == (home / name).read_bytes()
    port = free_port()
    again = NodeProcess(restored, ["--listen", f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}")
    again.start()
    await again.await_ready(60)
    async with http_session() as session:
        held = await Api(session).record_ids(again.url)
    missing = before - held
    assert not missing, f"{len(missing)} of {len(before)} acknowledged records are missing"
    assert len(before) >= WRITERS * PER_WRITER // 3
    print(f"acked before backup: {len(before)}, during: {len(during)}, restored: {len(held)}")
    again.terminate()


async def _filled_home(tmp_path: Path, name: str, count: int = 300) -> Path:
    home = make_home(tmp_path, name)
    cast = Cast.fresh()
    t0 = now_ms() - 3_600_000
    store = await Store.open(load_config(home).database_path)
    try:
        records = [
            opportunity(cast.org, t0 + i, slug=f"job-{i}", summary="x" * 200) for i in range(count)
        ]
        await store.add(records, now_ms())
    finally:
        await store.close()
    return home


def _damage_a_page(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'records_kind'"
        ).fetchone()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    with path.open("r+b") as f:  # the root page of an index: garbage where a b-tree page was
        f.seek((root - 1) * page_size)
        f.write(os.urandom(page_size))


async def test_check_finds_a_flipped_byte_in_a_record_and_a_damaged_page(tmp_path: Path) -> None:
    home = await _filled_home(tmp_path, "checked")
    path = load_config(home).database_path
    healthy = await asyncio.to_thread(run_cli, "check", "--home", home, timeout=120)
    assert healthy.returncode == 0, healthy.stderr
    assert "ok" in healthy.stdout

    db = sqlite3.connect(path)
    try:
        rid, wire = db.execute(
            "SELECT id, wire FROM records ORDER BY seq LIMIT 1 OFFSET 7"
        ).fetchone()
        flipped = bytearray(wire)
        flipped[len(flipped) // 2] ^= 0x01
        with db:
            db.execute("UPDATE records SET wire = ? WHERE id = ?", (bytes(flipped), rid))
    finally:
        db.close()
    result = await asyncio.to_thread(run_cli, "check", "--home", home, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and rid.hex() in lines[0] and "refused" in lines[0], result.stderr

    damaged = await _filled_home(tmp_path, "damaged")
    _damage_a_page(load_config(damaged).database_path)
    result = await asyncio.to_thread(run_cli, "check", "--home", damaged, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("rakuichi check: ")
    assert "integrity" in result.stderr or "damaged" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

    # the node refuses to start on it, in one line naming check and restore
    started = await asyncio.to_thread(run_cli, "run", "--home", damaged, timeout=60)
    assert started.returncode == 1
    last = started.stderr.splitlines()[-1]
    assert "damaged" in last and "rakuichi check" in last and "rakuichi restore" in last, last
    assert "Traceback" not in started.stderr


def _old_database(path: Path, version: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for number, script in enumerate(MIGRATIONS[:version], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    finally:
        db.close()


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_status_never_migrates_dry_run_says_what_and_migrate_backs_up_first(
    tmp_path: Path,
) -> None:
    latest = len(MIGRATIONS)
    old = latest - 1
    home = make_home(tmp_path, "old")
    path = load_config(home).database_path
    _old_database(path, old)

    status = run_cli("status", "--home", home)
    assert status.returncode == 0, status.stderr
    assert f"schema v{old}" in status.stdout and "migrate" in status.stdout
    assert _version(path) == old

    dry = run_cli("migrate", "--home", home, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"schema v{old} -> v{latest}" in dry.stdout
    assert f"migration {latest}:" in dry.stdout and "nothing changed" in dry.stdout
    assert _version(path) == old
    assert not list(home.glob("*.bak"))

    done = run_cli("migrate", "--home", home)
    assert done.returncode == 0, done.stderr
    assert _version(path) == latest
    (backup,) = home.glob(f"rakuichi.db.schema-v{old}-*.bak")
    assert _version(backup) == old
    again = run_cli("migrate", "--home", home, "--dry-run")
    assert "nothing to do" in again.stdout


def test_restore_refuses_a_damaged_archive_and_a_used_home(tmp_path: Path) -> None:
    home = make_home(tmp_path, "small")
    assert run_cli("status", "--home", home).returncode == 0
    asyncio.run(_create(load_config(home).database_path))
    archive = tmp_path / "small.tar.gz"
    assert run_cli("backup", "--home", home, archive).returncode == 0
    line = one_line_failure(run_cli("restore", archive, "--home", home), 1)
    assert "not empty" in line
    line = one_line_failure(run_cli("backup", "--home", home, archive), 1)
    assert "exists" in line
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:200])
    line = one_line_failure(run_cli("restore", broken, "--home", tmp_path / "new"), 1)
    assert "cannot read the backup" in line


async def _create(path: Path) -> None:
    await (await Store.open(path)).close()


async def test_check_on_postgresql_finds_a_flipped_byte_and_a_view_that_lies(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """``rakuichi check`` of a node on PostgreSQL: every record re-validated, the views compared
    with what the records say (the pages are PostgreSQL's own to check)."""
    import asyncpg

    from node.storage.pg_store import PgStore

    home = make_home(tmp_path, "pg", storage_url=postgres_dsn)
    cast = Cast.fresh()
    t0 = now_ms() - 3_600_000
    store = await PgStore.open(postgres_dsn)
    try:
        records = [opportunity(cast.org, t0 + i, slug=f"job-{i}") for i in range(120)]
        await store.add(records, now_ms())
    finally:
        await store.close()
    healthy = await asyncio.to_thread(run_cli, "check", "--home", home, timeout=120)
    assert healthy.returncode == 0, healthy.stderr
    assert "ok (records, views)" in healthy.stdout
    status = await asyncio.to_thread(run_cli, "status", "--home", home)
    assert status.returncode == 0, status.stderr
    assert "PostgreSQL, schema v" in status.stdout and "records: 120" in status.stdout, status

    db = await asyncpg.connect(postgres_dsn)
    try:  # a view that says what no record says: an opportunity's slot points elsewhere
        await db.execute(
            "UPDATE current SET id = $1 WHERE kind = 'opportunity' AND slot = 'job-5'",
            records[6].id,
        )
    finally:
        await db.close()
    lying = await asyncio.to_thread(run_cli, "check", "--home", home, timeout=120)
    assert lying.returncode == 1
    assert "view opportunities" in lying.stderr, lying.stderr

    victim = records[7]
    flipped = bytearray(victim.wire)
    flipped[len(flipped) // 2] ^= 0x01
    db = await asyncpg.connect(postgres_dsn)
    try:
        await db.execute("UPDATE records SET wire = $1 WHERE id = $2", bytes(flipped), victim.id)
    finally:
        await db.close()
    result = await asyncio.to_thread(run_cli, "check", "--home", home, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and victim.id.hex() in lines[0] and "refused" in lines[0], lines
    assert "Traceback" not in result.stderr
