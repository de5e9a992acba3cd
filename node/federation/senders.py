"""The running senders: one ``PeerSender`` per active peer, started and stopped as peers come
and go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from node.clock import Clock
from node.config import FederationConfig
from node.federation.clients import ClientPool
from node.federation.sender import PeerSender
from node.storage.interface import PeerStore


class SenderPool:
    def __init__(
        self,
        state: PeerStore,
        clients: ClientPool,
        clock: Clock,
        on_recovered: Callable[[str], Awaitable[None] | None],
        identify: Callable[[str], Awaitable[bytes]],
        body_limit: Callable[[str], int],
    ) -> None:
        self.state = state
        self.clients = clients
        self.clock = clock
        self.on_recovered = on_recovered
        self.identify = identify
        self.body_limit = body_limit
        self.senders: dict[str, PeerSender] = {}

    async def update(self, active: set[str], fed: FederationConfig) -> None:
        """Stop the senders of peers no longer active; start one for each new active peer."""
        for url in list(self.senders):
            if url not in active:
                await self.senders.pop(url).stop()
        for url in active - set(self.senders):
            sender = PeerSender(
                url,
                self.clients.client(url),
                self.state,
                self.clock,
                fed.push_interval,
                fed.max_backoff,
                self.on_recovered,
                self.identify,
                self.body_limit,
            )
            self.senders[url] = sender
            sender.start()

    def poke_all(self) -> None:
        """New records are in the store: every sender looks at its outbox."""
        for sender in self.senders.values():
            sender.poke()

    def contacted(self, url: str) -> None:
        sender = self.senders.get(url)
        if sender is not None:
            sender.contacted()

    def backoff_left(self, url: str) -> float:
        """Seconds until the sender of ``url`` tries again (0 when not backing off)."""
        sender = self.senders.get(url)
        if sender is None:
            return 0.0
        return max(0.0, round(sender.retry_at - self.clock.monotonic(), 1))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.senders.values()))
