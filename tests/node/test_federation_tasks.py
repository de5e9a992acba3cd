"""Federation and store coroutines: wake-ups, listener failures, background tasks."""

from __future__ import annotations

import asyncio
import gc
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import node.runner as runner_module
from node.clock import SystemClock
from node.config import load_config, load_keys
from node.federation.manager import Federation
from node.federation.sender import PeerSender
from node.runner import start_node
from node.service import open_node
from node.storage.store import Store, StoreError
from tests.support import Cast, free_port, make_home, now_ms, opportunity, org_profile
from tests.support.stores import Engine


class _NoPeerState:
    """A peer state store where the peer is gone: every push attempt is one ``get`` call."""

    def __init__(self) -> None:
        self.gets = 0

    async def get(self, url: str) -> None:
        self.gets += 1
        return None


async def test_contact_during_a_backoff_pause_ends_the_pause() -> None:
    state = _NoPeerState()
    sender = PeerSender(
        "http://127.0.0.1:9",
        None,
        state,
        SystemClock(),  # type: ignore[arg-type]
        push_interval=3600.0,
        max_backoff=3600.0,
        on_recovered=lambda url: None,
        identify=lambda url: asyncio.sleep(0, "key"),
    )  # type: ignore[arg-type]
    sender.retry_at = time.monotonic() + 3600.0  # backing off for an hour
    sender.start()
    try:
        sender.poke()  # new records: the sender wakes and sits out its pause
        await asyncio.sleep(0.1)
        assert state.gets == 0
        sender.contacted()  # the peer reached us: it is up, try now
        deadline = time.monotonic() + 2.0
        while state.gets == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert state.gets >= 1, "the sender slept on through its backoff after the contact"
    finally:
        await sender.stop()


async def test_a_failing_commit_listener_does_not_strand_queued_writers(engine: Engine) -> None:
    store = await engine.open(await engine.fresh("node"))
    try:
        calls = 0

        def explode(records: list[object]) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("listener bug")

        store.on_commit.append(explode)
        cast = Cast.fresh()
        first = opportunity(cast.org, now_ms() - 2000, slug="first")
        second = opportunity(cast.org, now_ms() - 1000, slug="second")
        one = asyncio.ensure_future(store.add([first], now_ms()))
        await asyncio.sleep(0)  # the writer task starts on the first record
        two = asyncio.ensure_future(store.add([second], now_ms()))  # queued behind it
        assert await asyncio.wait_for(one, 5.0) == [True]
        assert await asyncio.wait_for(two, 5.0) == [True]
    finally:
        await store.close()


async def test_stop_ends_the_peer_learning_a_commit_started(tmp_path: Path) -> None:
    home = make_home(tmp_path, "a", learn_peers=True)
    config = load_config(home)
    node = await open_node(config, load_keys(home), verifier_workers=0)
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        fed = await Federation.start(node)
        other = Cast.fresh().org_b
        profile = org_profile(
            other,
            now_ms() - 1000,
            nodes=[{"url": f"http://127.0.0.1:{free_port()}", "key": other.public_key.raw}],
        )
        fed._on_commit([profile])  # as the store calls it: learning starts in the background
        await fed.stop()
        await asyncio.sleep(0.3)
        gc.collect()
        late = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("sender")]
        assert late == [], "a sender started after the federation stopped"
        assert errors == [], f"a background task failed unseen: {errors[0].get('message')}"
    finally:
        loop.set_exception_handler(None)
        await node.close()


async def test_a_node_that_cannot_listen_releases_its_http_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[web.AppRunner] = []

    class Recorded(web.AppRunner):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(runner_module.web, "AppRunner", Recorded)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        home = make_home(tmp_path, "a", taken.getsockname()[1])
        with pytest.raises(OSError):
            await start_node(load_config(home), verifier_workers=0, federate=False)
    assert made and made[0].server is None, "the HTTP runner was left set up"


def _sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_a_store_that_cannot_open_closes_its_connections(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 999")
    before = _sqlite_threads()
    with pytest.raises(StoreError, match="newer") as caught:
        await Store.open(path)
    await asyncio.sleep(0.1)
    # while the error propagates (to the top of the process: its traceback holds the frames),
    # a connection left open keeps its non-daemon thread, and the process never exits
    assert _sqlite_threads() - before == set(), caught.value


async def test_a_file_that_is_not_a_database_leaves_no_connection_open(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an SQLite database, not even close. " * 100)
    before = _sqlite_threads()
    with pytest.raises(StoreError, match="cannot open") as caught:
        await Store.open(path)
    await asyncio.sleep(0.1)
    assert _sqlite_threads() - before == set(), caught.value
