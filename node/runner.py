"""Running a node: open its parts, serve HTTP, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web

from node.api.app import make_app
from node.api.fastread import FastReads
from node.clock import Clock
from node.config import NodeConfig, load_config, load_keys
from node.federation.manager import Federation
from node.federation.syncindex import SyncIndex
from node.federation.watcher import ConfigWatcher
from node.guard import ConnectionGuard, GuardedSite, raise_open_files_limit
from node.keytext import KeyText
from node.ops.endpoints import mark_listening
from node.service import Node, open_node
from node.storage.cleanstop import check_at_start, note_clean_stop
from node.storage.engines import open_peer_store
from node.storage.faults import StorageFault
from node.storage.interface import PeerStore
from node.storage.store import StoreError

log = logging.getLogger("rakuichi.node")
INDEX_WAIT = 10.0  # seconds start_node waits for the sync index once the node listens


class ListenError(OSError):
    """The node cannot listen where it is configured to (the port is taken, say)."""


@dataclass
class RunningNode:
    node: Node
    federation: Federation | None
    runner: web.AppRunner
    key_watch: asyncio.Task[None] | None = None


KEY_WATCH_INTERVAL = 1.0  # seconds between looks at org.key and its key events


async def _watch_keys(node: Node, passphrase: str | None, federate: bool) -> None:
    """Follow ``rakuichi keys rotate`` while running: new events, new signing key, profile.

    A process that does not run the federation (a worker of several, see node/workers.py)
    also follows config.toml here, so a deny takes effect in every process that ingests."""
    settings = (
        None
        if federate
        else ConfigWatcher(node.config.home, node.config.config_path, node.config.peers_path)
    )
    while True:
        await asyncio.sleep(KEY_WATCH_INTERVAL)
        try:
            await node.sync_keys(passphrase)
            fresh = settings.changed() if settings is not None else None
            if fresh is not None:
                node.use_federation_config(fresh.federation)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("key files not picked up")


async def learn_proven_identities(node: Node, peers: PeerStore) -> None:
    """Which node key answers at which URL as proven before (kept in the peers table), so a
    process that does not run the federation itself refuses denied peers from the start."""
    for url, row in (await peers.all()).items():
        if row.node_key:
            node.peers.learn(row.node_key, url, row.org)


async def start_node(
    config: NodeConfig,
    passphrase: str | None = None,
    clock: Clock | None = None,
    verifier_workers: int | None = None,
    federate: bool = True,
    sock: socket.socket | None = None,
    sync_index: SyncIndex | None = None,
) -> RunningNode:
    """Open the node's store, publish its profile if it changed, listen, and federate."""
    keys = load_keys(config.home, passphrase)
    node = await open_node(config, keys, clock, verifier_workers)
    node.publishes_profile = federate
    fed: Federation | None = None
    runner: web.AppRunner | None = None
    try:
        if federate:
            fed = await Federation.start(node, load_now=False)
        else:
            peers = await open_peer_store(config)
            try:
                await learn_proven_identities(node, peers)
            finally:
                await peers.close()
        try:
            await node.sync_keys(passphrase, force=True)
        except StorageFault as exc:  # a node under its disk floor still serves reads
            log.warning("own profile not published now: %s", exc)
        raise_open_files_limit()
        runner = web.AppRunner(
            make_app(node, fed, sync_index),
            access_log=None,
            shutdown_timeout=5.0,
            keepalive_timeout=config.limits.idle_timeout,
            lingering_time=1.0,  # unread rest of a refused body: drained this long, then closed
        )
        await runner.setup()
        host, port = config.host_port
        point = node.store.point_reads()
        fast = FastReads(runner.app, point) if point is not None else None
        guard = ConnectionGuard(config.limits, config.trusted_proxies, fast)
        try:
            await GuardedSite(runner, host, port, guard, sock).start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from None
        mark_listening(runner.app)
        if fed is not None:
            # loaded while the node already answers (a big store: seconds; /readyz says so);
            # a small one is loaded before start_node returns, as callers expect
            fed.begin_loading()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fed.index.ready.wait(), INDEX_WAIT)
    except BaseException:
        if runner is not None:
            await runner.cleanup()
        if fed is not None:
            await fed.stop()
        await node.close()
        raise
    watch = asyncio.create_task(_watch_keys(node, passphrase, federate), name="key-watch")
    return RunningNode(node, fed, runner, watch)


async def stop_node(running: RunningNode) -> None:
    if running.key_watch is not None:
        running.key_watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.key_watch
    await running.runner.cleanup()
    if running.federation is not None:
        await running.federation.stop()
    await running.node.close()


async def serve(
    home: Path,
    passphrase: str | None = None,
    ready: Callable[[Node], Awaitable[None] | None] | None = None,
    listen: str | None = None,
) -> None:
    """Run the node in ``home`` until SIGINT or SIGTERM (on ``listen`` instead of the
    configured address when given)."""
    config = load_config(home)
    damage = check_at_start(config.database_path)
    if damage is not None:
        raise StoreError(
            f"{config.database_path} is damaged ({damage}): see `rakuichi check --home {home}`,"
            f" then `rakuichi restore BACKUP --home NEW_HOME` from your latest backup"
        )
    if listen is not None:
        config = replace(config, listen=listen)
    running = await start_node(config, passphrase)
    node = running.node
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "node %s (org %s) listening on %s",
        KeyText(node.keys.node.public_key.raw),
        KeyText(node.org_identity),
        config.public_url,
    )
    try:
        if ready is not None:
            result = ready(node)
            if result is not None:
                await result
        await stop.wait()
        log.info("stopping")
    finally:
        await stop_node(running)
        if config.postgresql_dsn is None:  # reached only when the store closed without error
            note_clean_stop(config.database_path)
