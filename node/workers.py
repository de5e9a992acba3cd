"""A node of several processes (PostgreSQL only): ``rakuichi run --workers N``.

The parent binds the listening socket once (so a port taken by another program is refused with
one line, as for one process) and forks N workers that accept on it; each worker serves the
whole API, ingests, and follows what the others commit (PostgreSQL LISTEN/NOTIFY), so every
worker's stream, caches and reconciliation index stay whole. Exactly one worker runs the
federation (senders, anti-entropy): the one holding a PostgreSQL advisory lock on a connection
of its own. When it dies its connection closes, the lock is free, and another worker takes it
within ``LEADER_POLL`` seconds. The parent restarts a worker that dies, and on SIGINT/SIGTERM
stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from node.api.federation import peer_table_json
from node.config import NodeConfig, load_config
from node.federation.manager import Federation
from node.federation.nodekeys import bears_on_node_keys, follow_logged, load_node_keys
from node.federation.syncindex import SyncIndex
from node.runner import ListenError, learn_proven_identities, start_node, stop_node
from node.service import Node
from node.storage.engines import open_peer_store
from node.storage.faults import StorageFault
from node.storage.interface import PEERS_STATUS, PROVEN_STATUS, PeerStore, SharedStatus
from node.storage.leader import LeaderLock, LeaderLockError
from protocol import Record

LEADER_LOCK = 0x52414B46  # "RAKF": held by the worker that runs the federation
LEADER_POLL = 2.0  # seconds between a follower's attempts to take the lead
STATUS_INTERVAL = 0.5  # seconds between the leader's updates of the shared peer table
RESTART_DELAY = 1.0  # seconds before a dead worker is replaced
log = logging.getLogger("rakuichi.workers")


class WorkersError(ValueError):
    """Several workers were asked of a node that cannot have them."""


def bind(config: NodeConfig) -> socket.socket:
    host, port = config.host_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Leadership:
    """Runs the federation in this worker while it holds the leader lock."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.federation: Federation | None = None
        self._lock: LeaderLock | None = None
        self._peer_rows: PeerStore | None = None
        self._following: set[asyncio.Task[None]] = set()
        self._proven = ""  # the proven identities last shared (leader) or learned (follower)

    def on_commit(self, records: list[Record]) -> None:
        """While following: peers' node-key rotations, as the leader's federation follows
        them, so that this worker too refuses a retired node key after its grace."""
        if self.federation is None and bears_on_node_keys(records):
            self._track(follow_logged(self.node, records))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    async def run(self, dsn: str) -> None:
        self._lock = LeaderLock(dsn, LEADER_LOCK)
        self._track(load_node_keys(self.node))
        polled = float("-inf")
        while True:
            try:
                now = time.monotonic()
                if now - polled >= LEADER_POLL:
                    polled = now
                    await self._poll()
                if self.federation is not None:
                    await self._share_peers()
                else:
                    await self._follow_identities()
            except LeaderLockError as exc:
                log.warning("leader election: %s", exc)
                await self._step_down()
            await asyncio.sleep(STATUS_INTERVAL)

    async def _poll(self) -> None:
        if not self._lock or not self._lock.connected:
            await self._step_down()
        if self.federation is None and self._lock and await self._lock.try_take():
            log.info("worker %d runs the federation", os.getpid())
            self.federation = await Federation.start(self.node)
            self.node.publishes_profile = True
            await self._publish_profile()

    async def _follow_identities(self) -> None:
        """Which node key answers at which URL, as the leader proved it (the peers table, and
        the keys it bound to denied URLs that are no peers of this node), so that a deny by
        URL or organisation refuses a peer's requests in this worker too."""
        try:
            if self._peer_rows is None:
                self._peer_rows = await open_peer_store(self.node.config)
            await learn_proven_identities(self.node, self._peer_rows)
            store = self.node.store
            shared = (
                await store.read_status(PROVEN_STATUS) if isinstance(store, SharedStatus) else None
            )
            if shared is not None and shared[0] != self._proven:
                for key, url, org in json.loads(shared[0]):
                    self.node.peers.learn(
                        bytes.fromhex(key), url, bytes.fromhex(org) if org else None
                    )
                self._proven = shared[0]
        except Exception as exc:  # a database hiccup: the next tick tries again
            log.warning("peer identities not followed now: %s", exc)

    async def _share_peers(self) -> None:
        """The leader's peer table, for ``/v1/peers`` answered by the other workers."""
        assert self.federation is not None
        store = self.node.store
        if not isinstance(store, SharedStatus):
            return
        try:
            table = await peer_table_json(self.federation)
            await store.publish_status(PEERS_STATUS, json.dumps(table), self.node.clock.now_ms())
            proven = json.dumps(
                [
                    [i.node_key.hex(), i.url, i.org.hex() if i.org else None]
                    for i in self.node.peers.by_key.values()
                    if i.proven and i.url
                ]
            )
            if proven != self._proven:  # written when it changes only
                await store.publish_status(PROVEN_STATUS, proven, self.node.clock.now_ms())
                self._proven = proven
        except Exception as exc:  # a database hiccup: the next tick tries again
            log.warning("peer table not shared now: %s", exc)

    async def _publish_profile(self) -> None:
        try:
            await self.node.publish_profile_if_changed()
        except StorageFault as exc:  # under the disk floor: the next leader or start retries
            log.warning("own profile not published now: %s", exc)

    async def _step_down(self) -> None:
        self.node.publishes_profile = False
        if self.federation is not None:
            await self.federation.stop()
            self.federation = None
        if self._lock is not None:
            await self._lock.release()

    async def stop(self) -> None:
        for task in list(self._following):
            task.cancel()
        await asyncio.gather(*self._following, return_exceptions=True)
        await self._step_down()
        if self._peer_rows is not None:
            await self._peer_rows.close()


async def _worker(config: NodeConfig, passphrase: str | None, sock: socket.socket) -> None:
    dsn = config.postgresql_dsn
    assert dsn is not None
    index = SyncIndex()
    running = await start_node(config, passphrase, federate=False, sock=sock, sync_index=index)
    node = running.node
    store = node.store
    store.on_commit.append(lambda records: index.on_commit(records, store))  # type: ignore[arg-type]
    await store.follow_other_writers()
    loading = asyncio.create_task(index.load(store))  # type: ignore[arg-type]
    leadership = Leadership(node)
    store.on_commit.append(leadership.on_commit)
    leading = asyncio.create_task(leadership.run(dsn))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        leading.cancel()
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await leading
        await leadership.stop()
        await stop_node(running)


def _start_worker(config: NodeConfig, passphrase: str | None, sock: socket.socket) -> int:
    pid = os.fork()
    if pid == 0:  # the worker: serve until told to stop, then leave without the parent's cleanup
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            asyncio.run(_worker(config, passphrase, sock))
        except Exception:
            log.exception("worker %d failed", os.getpid())
            code = 1
        finally:
            os._exit(code)
    return pid


def serve_workers(
    home: os.PathLike[str] | str, passphrase: str | None, workers: int, listen: str | None = None
) -> None:
    """Run ``workers`` processes on one socket until SIGINT or SIGTERM (the parent supervises)."""
    from pathlib import Path

    config = load_config(Path(home))
    if listen is not None:
        config = replace(config, listen=listen)
    if config.postgresql_dsn is None:
        raise WorkersError(
            '--workers needs PostgreSQL storage ([storage] url = "postgresql://..." in'
            " config.toml): one SQLite file is written by one process"
        )
    sock = bind(config)
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = {_start_worker(config, passphrase, sock) for _ in range(workers)}
    print(f"node {config.name} running at {config.public_url} with {workers} workers", flush=True)
    try:
        while not stopping:
            with contextlib.suppress(ChildProcessError, InterruptedError):
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid:
                    children.discard(pid)
                    if not stopping:
                        log.warning("worker %d ended (%s); starting another", pid, status)
                        time.sleep(RESTART_DELAY)
                        children.add(_start_worker(config, passphrase, sock))
                    continue
            time.sleep(0.2)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while children and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid:
                    children.discard(pid)
                    continue
            time.sleep(0.1)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sock.close()
