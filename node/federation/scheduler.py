"""When to reconcile with whom: one anti-entropy session at a time, peers in turn, and at once
with a peer that is new or back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from node.clock import Clock
from node.config import FederationConfig
from node.federation.antientropy import SyncReport, anti_entropy
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
        identify: Callable[[str], Awaitable[str]],
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
        self.listeners: list[Callable[[str, SyncReport], None]] = []  # metrics
        self._now = asyncio.Event()
        self._queue: list[str] = []
        self._lock = asyncio.Lock()

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
            if self._queue:
                targets = [u for u in self._queue if u in peers]
                self._queue.clear()
            elif peers:
                targets = [peers[turn % len(peers)]]
                turn += 1
            else:
                targets = []
            for url in targets:  # one peer at a time
                try:
                    await self.sync_with(url)
                except Exception:  # a bug, or a peer's answer we did not foresee, must not
                    log.exception("sync with %s failed unexpectedly", url)  # end the loop
                    await self.state.failed(url, self.clock.now_ms(), "sync: internal error")

    async def sync_with(self, url: str) -> SyncReport | None:
        async with self._lock:
            fed = self.settings()
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
            await self.state.synced(url, self.clock.now_ms())
            await self.state.succeeded(url, self.clock.now_ms())
            self.reports[url] = report
            for listener in self.listeners:
                listener(url, report)
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
        failures = await self.state.failed(url, self.clock.now_ms(), error)
        level = logging.WARNING if failures == 1 else logging.DEBUG  # once per transition
        log.log(level, "peer %s is down: %s (failure %d)", url, error, failures)
