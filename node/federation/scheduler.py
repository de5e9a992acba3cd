"""When to reconcile with whom: one anti-entropy session at a time, peers in turn, and at once
with a peer that is new or back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from node.clock import Clock
from node.config import FederationConfig
from node.federation.antientropy import SyncReport, anti_entropy, claims_hold
from node.federation.backoff import backoff_delay
from node.federation.clients import ClientPool
from node.federation.syncindex import SyncIndex
from node.ingest import Ingestor
from node.storage.interface import PeerStore, RecordStore
from node.storage.peers import MAX_BATCH_BYTES, batch_budget
from node.transport import RemoteRefusal, TransportError
from protocol import Rejected

log = logging.getLogger("rakuichi.federation")
SESSION_TIMEOUTS = 12  # an anti-entropy session may last this many request timeouts


class AntiEntropy:
    def __init__(
        self,
        index: SyncIndex,
        store: RecordStore,
        ingestor: Ingestor,
        state: PeerStore,
        clients: ClientPool,
        clock: Clock,
        settings: Callable[[], FederationConfig],
        active_peers: Callable[[], Awaitable[list[str]]],
        identify: Callable[[str], Awaitable[bytes]],
        learn_from: Callable[[str], Awaitable[None]],
        body_limit: Callable[[str], int] = lambda url: MAX_BATCH_BYTES,
    ) -> None:
        self.index = index
        self.store = store
        self.ingestor = ingestor
        self.state = state
        self.clients = clients
        self.clock = clock
        self.settings = settings
        self.active_peers = active_peers
        self.identify = identify
        self.learn_from = learn_from
        self.body_limit = body_limit  # the peer's advertised limit bounds what is sent to it
        self.reports: dict[str, SyncReport] = {}
        self._listeners: list[Callable[[str, SyncReport], None]] = []
        self._now = asyncio.Event()
        self._queue: list[str] = []
        self._lock = asyncio.Lock()
        self._started: dict[str, float] = {}  # url -> when the last session with it started
        self._failures: dict[str, int] = {}  # url -> sessions failed in a row
        self._retry_at: dict[str, float] = {}  # url -> no session before (monotonic)
        self._took: dict[str, set[bytes]] = {}  # url -> ids it took in the last session
        self._rng = random.Random()

    def add_listener(self, listener: Callable[[str, SyncReport], None]) -> None:
        """Call ``listener(url, report)`` after every session that returned a report (the
        metrics count sessions and what they moved)."""
        self._listeners.append(listener)

    def backoff_left(self, url: str) -> float:
        """Seconds before the next session with ``url`` (0 when not backing off)."""
        return max(0.0, round(self._retry_at.get(url, 0.0) - self.clock.monotonic(), 1))

    def _may_start(self, url: str, now: float, requested: bool) -> bool:
        """Not while backing off; and a requested session (a new or recovered peer) not
        within an interval of the last one: the round-robin reaches it, so that a peer cannot
        make this node start extra sessions toward it."""
        if now < self._retry_at.get(url, 0.0):
            return False
        started = self._started.get(url)
        interval = self.settings().anti_entropy_interval
        return not (requested and started is not None and now - started < interval)

    def _forget_gone(self, peers: list[str]) -> None:
        for table in (self._started, self._failures, self._retry_at, self._took):
            for url in set(table) - set(peers):
                del table[url]

    def request(self, url: str) -> None:
        """Reconcile with ``url`` soon (a new peer, or one that is back)."""
        if url not in self._queue:
            self._queue.append(url)
        self._now.set()

    async def run(self) -> None:
        await self.index.ready.wait()
        # at start, reconcile with every active peer at once: a node that was down catches up
        # in seconds, not after its first timer (nor after a peer's backoff ends)
        for url in await self.active_peers():
            self.request(url)
        turn = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), self.settings().anti_entropy_interval)
            self._now.clear()
            peers = await self.active_peers()
            self._forget_gone(peers)
            now = self.clock.monotonic()
            if self._queue:
                targets = [u for u in self._queue if u in peers and self._may_start(u, now, True)]
                self._queue.clear()
            else:
                targets = []
                for _ in range(len(peers)):  # the next peer in turn that is not backing off
                    url = peers[turn % len(peers)]
                    turn += 1
                    if self._may_start(url, now, False):
                        targets = [url]
                        break
            for url in targets:  # one peer at a time
                try:
                    await self.sync_with(url)
                except Exception:  # a bug, or a peer's answer we did not foresee, must not
                    log.exception("sync with %s failed unexpectedly", url)  # end the loop
                    await self.state.failed(url, self.clock.now_ms(), "sync: internal error")

    async def sync_with(self, url: str) -> SyncReport | None:
        async with self._lock:
            fed = self.settings()
            self._started[url] = self.clock.monotonic()
            try:
                key = await self.identify(url)
                report = await asyncio.wait_for(
                    anti_entropy(
                        self.clients.client(url),
                        self.index.items,
                        self.store,
                        self.ingestor,
                        key,
                        batch_budget(self.body_limit(url)),
                        self._took.get(url, set()),
                    ),
                    SESSION_TIMEOUTS * fed.request_timeout,
                )
            except TimeoutError:
                await self._failed(url, "sync: session over its deadline")
                return None
            except RemoteRefusal as exc:  # shown at /v1/peers: never the remote's own words
                await self._failed(url, f"sync: {exc.summary()}")
                return None
            except (TransportError, Rejected) as exc:  # Rejected: a bad reply
                await self._failed(url, f"sync: {exc}")
                return None
            self.reports[url] = report
            self._took[url] = report.took
            for listener in self._listeners:
                listener(url, report)
            if not claims_hold(report):
                await self._failed(
                    url,
                    f"sync: claims that do not hold ({report.undelivered} ids claimed and not "
                    f"delivered, {report.relacked} records lacked again after taking them)",
                )
                return report
            self._failures.pop(url, None)
            self._retry_at.pop(url, None)
            await self.state.synced(url, self.clock.now_ms())
            await self.state.succeeded(url, self.clock.now_ms())
            log.info(
                "synced with %s: %d rounds, %d B, fetched %d, sent %d",
                url,
                report.rounds,
                report.reconcile_bytes,
                report.fetched,
                report.sent,
            )
            if self.settings().learn_peers:
                await self.learn_from(url)
            return report

    async def _failed(self, url: str, error: str) -> None:
        """Count the failure (``/v1/peers``, metrics) and back off from this peer: full
        jitter over its sessions failed in a row."""
        failures = await self.state.failed(url, self.clock.now_ms(), error)
        in_row = self._failures[url] = self._failures.get(url, 0) + 1
        delay = backoff_delay(in_row, self.settings().max_backoff, self._rng)
        self._retry_at[url] = self.clock.monotonic() + delay
        level = logging.WARNING if failures == 1 else logging.DEBUG  # once per transition
        log.log(level, "peer %s is down: %s (failure %d)", url, error, failures)
