"""``rakuichi purge --org DID``: a denied organisation's records leave the store, the views
stay true (``rakuichi check``), and peers cannot bring them back while it stays denied."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from node.config import load_config
from node.storage.store import Store
from tests.node.test_cli import one_line_failure
from tests.support import Cast, one_of_every_kind, run_cli
from tests.support.federation import (
    Api,
    federation_home,
    http_session,
    set_peers,
    start_processes,
    wait_for,
)
from tests.support.records import did, now_ms


async def _store(home: Path, records: list) -> None:  # type: ignore[type-arg]
    store = await Store.open(load_config(home).database_path)
    try:
        await store.add(records, now_ms())
    finally:
        await store.close()


def _authors(home: Path) -> set[bytes]:
    db = sqlite3.connect(load_config(home).database_path)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT author FROM records")}
    finally:
        db.close()


async def test_purge_removes_a_denied_org_and_peers_cannot_bring_it_back(tmp_path: Path) -> None:
    t0 = now_ms() - 3_600_000
    kept, gone = Cast.fresh(), Cast.fresh()
    history = one_of_every_kind(kept, t0) + one_of_every_kind(gone, t0 + 100)
    a_home = federation_home(tmp_path, "a")
    b_home = federation_home(tmp_path, "b")
    for home in (a_home, b_home):
        await _store(home, history)
    target = did(gone.org)

    line = one_line_failure(
        await asyncio.to_thread(run_cli, "purge", "--home", a_home, "--org", target), 1
    )
    assert "is not denied" in line
    assert (
        await asyncio.to_thread(run_cli, "peers", "deny", "--home", a_home, target)
    ).returncode == 0
    result = await asyncio.to_thread(run_cli, "purge", "--home", a_home, "--org", target)
    assert result.returncode == 0, result.stderr
    assert "purged 7 record(s)" in result.stdout, result.stdout
    assert gone.org.public_key.raw not in _authors(a_home)
    assert kept.org.public_key.raw in _authors(a_home)
    check = await asyncio.to_thread(run_cli, "check", "--home", a_home, timeout=120)
    assert check.returncode == 0, check.stderr

    a_url, b_url = (load_config(h).public_url for h in (a_home, b_home))
    set_peers(a_home, [b_url])
    set_peers(b_home, [a_url])
    await start_processes([a_home, b_home])
    async with http_session() as session:
        api = Api(session)

        async def synced_twice() -> bool:
            row = await api.peer_row(a_url, b_url)
            return bool(row and row.get("last_sync"))

        await wait_for(synced_twice, 60, "a synced with b")
        await asyncio.sleep(2.5)  # anti-entropy every second: more sessions have run
        listed = await api.get_json(f"{a_url}/v1/records?author={target}")
        assert listed["records"] == [], listed
        again = await api.get_json(f"{b_url}/v1/records?author={target}")
        assert again["records"], "b still holds them: it was b's to keep"
