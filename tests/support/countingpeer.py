"""A listening HTTP server on 127.0.0.1 that counts every request it gets, per path.

It answers the well-known document like a node would (its own node key and organisation) and
404 to the rest: enough for a node to try it as a peer, and for a test to see whether the node
contacted it at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from crypto import SigningKey
from tests.support.records import did, fresh_key


@dataclass
class CountingPeer:
    key: SigningKey = field(default_factory=fresh_key)
    org: SigningKey = field(default_factory=fresh_key)
    seen: Counter[str] = field(default_factory=Counter)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def requests(self) -> int:
        return sum(self.seen.values())

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.seen[request.path] += 1
        body = await request.read()
        if request.path == "/.well-known/rakuichi":
            return web.json_response(
                {
                    "protocol": 1,
                    "software": "rakuichi",
                    "name": "counting peer",
                    "org": did(self.org),
                    "node": did(self.key),
                    "url": self.url,
                }
            )
        return await self.answer(request, body)

    async def answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Every route but the well-known document (a subclass plays a peer's part)."""
        return web.Response(status=404)
