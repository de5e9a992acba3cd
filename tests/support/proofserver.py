"""A tiny HTTP server on 127.0.0.1 serving ``/.well-known/rakuichi-did`` (domain proof tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from protocol.domainproof import WELL_KNOWN_PATH


@dataclass
class ProofServer:
    body: str = ""
    redirect_to: str = ""  # when set, answer 302 to this URL instead
    base: str = ""
    hits: int = 0

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        return web.Response(text=self.body)


@asynccontextmanager
async def proof_server(body: str = "") -> AsyncIterator[ProofServer]:
    server = ProofServer(body)
    app = web.Application()
    app.router.add_get(WELL_KNOWN_PATH, server.serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
