"""One HTTP client per peer URL, sharing the federation's sessions and signing key.

Configured peers (``peers.toml``) are reached through a plain session; learned peers, unless
``[federation] learn_private`` is on, through one whose sockets connect to public addresses
only (``node.federation.addresses``).
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from crypto import SigningKey
from node.federation.addresses import connector
from node.transport import NodeClient


class ClientPool:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        signer: SigningKey,
        public_session: aiohttp.ClientSession | None = None,
        public_only: Callable[[str], bool] = lambda url: False,
    ) -> None:
        self.session = session
        self.public_session = public_session or session
        self.signer = signer
        self.public_only = public_only  # whether ``url`` may be contacted at public addresses only
        self.clients: dict[str, NodeClient] = {}

    @classmethod
    def open(
        cls, timeout: aiohttp.ClientTimeout, signer: SigningKey, public_only: Callable[[str], bool]
    ) -> ClientPool:
        return cls(
            aiohttp.ClientSession(timeout=timeout, connector=connector(public_only=False)),
            signer,
            aiohttp.ClientSession(timeout=timeout, connector=connector(public_only=True)),
            public_only,
        )

    def client(self, url: str) -> NodeClient:
        """The client of ``url``, on the session its kind of peer is allowed (decided anew at
        each call: a learned peer the operator then lists in peers.toml is reached plainly)."""
        session = self.public_session if self.public_only(url) else self.session
        client = self.clients.get(url)
        if client is None or client.session is not session:
            client = self.clients[url] = NodeClient(url, session, signer=self.signer)
        return client

    def drop(self, url: str) -> None:
        """Forget the client of a peer no longer known (its connections stay pooled)."""
        self.clients.pop(url, None)

    async def close(self) -> None:
        await self.session.close()
        if self.public_session is not self.session:
            await self.public_session.close()
