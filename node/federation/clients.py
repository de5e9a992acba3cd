"""One HTTP client per peer URL, sharing the federation's session and signing key."""

from __future__ import annotations

import aiohttp

from crypto import SigningKey
from node.transport import NodeClient


class ClientPool:
    def __init__(self, session: aiohttp.ClientSession, signer: SigningKey) -> None:
        self.session = session
        self.signer = signer
        self.clients: dict[str, NodeClient] = {}

    def client(self, url: str) -> NodeClient:
        if url not in self.clients:
            self.clients[url] = NodeClient(url, self.session, signer=self.signer)
        return self.clients[url]

    async def close(self) -> None:
        await self.session.close()
