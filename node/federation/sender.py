"""One sender per peer: one request in flight, batches, backoff, a persisted cursor.

The outbox of a peer is every record whose arrival seq is past the peer's cursor and that did
not come from that peer; the cursor moves (and is persisted) only after the peer answered, so
nothing offered is forgotten across a restart. Failures that may pass (timeouts, 429, 503,
other 5xx, connection errors) back off with full jitter; a record the peer refuses is logged
and skipped ("never"), and does not hold up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from node.clock import Clock
from node.federation.backoff import backoff_delay
from node.storage.interface import PeerStore
from node.storage.peers import MAX_BATCH_BYTES, batch_budget
from node.transport import NodeClient, RemoteRefusal, TransportError

log = logging.getLogger("rakuichi.federation")

BATCH = 500
LINGER = 0.02  # seconds to let a burst of new records gather into one batch


class PeerSender:
    def __init__(
        self,
        url: str,
        client: NodeClient,
        state: PeerStore,
        clock: Clock,
        push_interval: float,
        max_backoff: float,
        on_recovered: Callable[[str], Awaitable[None] | None],
        identify: Callable[[str], Awaitable[bytes]],
        body_limit: Callable[[str], int] = lambda url: MAX_BATCH_BYTES,
    ) -> None:
        self.url = url
        self.client = client
        self.state = state
        self.clock = clock
        self.push_interval = push_interval
        self.max_backoff = max_backoff
        self.on_recovered = on_recovered
        self.identify = identify
        self.body_limit = body_limit  # the peer's advertised limit bounds each batch
        self.wake = asyncio.Event()
        self.failures = 0
        self.retry_at = 0.0
        self.refused = 0
        self.sent = 0
        self.sent_bytes = 0  # wire bytes of the records the peer took
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sender {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def poke(self) -> None:
        self.wake.set()

    def contacted(self) -> None:
        """Any successful contact with the peer ends the backoff: try again now."""
        if self.retry_at > self.clock.monotonic():
            self.retry_at = 0.0
            self.wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.push_interval)
            self.wake.clear()
            pause = self.retry_at - self.clock.monotonic()
            while pause > 0:  # sit out the backoff, unless contacted() ends it early
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), pause)
                self.wake.clear()
                pause = self.retry_at - self.clock.monotonic()
            await asyncio.sleep(LINGER)
            try:
                while await self.push_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not end this peer's delivery for good
                log.exception("sender %s failed unexpectedly", self.url)
                await self._failed("internal error")

    async def push_once(self) -> bool:
        """Offer the next batch; True when there may be more to send right away."""
        peer = await self.state.get(self.url)
        if peer is None:
            return False
        try:
            node_key = await self.identify(self.url)
        except (TransportError, RemoteRefusal) as exc:
            await self._failed(exc.summary() if isinstance(exc, RemoteRefusal) else str(exc))
            return False
        budget = batch_budget(self.body_limit(self.url))
        batch, upto = await self.state.outbox(node_key, peer.cursor, BATCH, budget)
        if not batch:
            if upto > peer.cursor:
                await self.state.advance(self.url, upto, self.clock.now_ms())
            return False
        try:
            results = await self.client.post_records([wire for _, wire in batch])
        except TransportError as exc:
            await self._failed(str(exc))
            return False
        except RemoteRefusal as exc:  # shown at /v1/peers: never the remote's own words
            await self._failed(exc.summary())
            return False
        refused = [r for r in results if "class" in r]
        if refused:
            self.refused += len(refused)
            log.warning(
                "%s refused %d record(s), e.g. %s: %s",
                self.url,
                len(refused),
                refused[0].get("class"),
                refused[0].get("detail"),
            )
        self.sent += len(batch) - len(refused)
        self.sent_bytes += sum(len(wire) for _, wire in batch)
        await self.state.advance(self.url, upto, self.clock.now_ms())
        await self._succeeded()
        return upto == batch[-1][0]  # cut short: more may be waiting

    async def _failed(self, error: str) -> None:
        self.failures = await self.state.failed(self.url, self.clock.now_ms(), error)
        delay = backoff_delay(self.failures, self.max_backoff, self._rng)
        self.retry_at = self.clock.monotonic() + delay
        # once per transition: the first failure is a WARNING, the retries are DEBUG
        log.log(
            logging.WARNING if self.failures == 1 else logging.DEBUG,
            "peer %s is down: %s (failure %d, next try in %.1f s)",
            self.url,
            error,
            self.failures,
            delay,
        )

    async def _succeeded(self) -> None:
        if self.failures:
            self.failures = 0
            self.retry_at = 0.0
            result = self.on_recovered(self.url)
            if result is not None:
                await result
