"""Signed node-to-node requests (RFC 9421): identify the peer, apply policy and rate limits.

Unsigned requests stay welcome for reads and record submissions: records prove themselves.
A signature that is present must verify, though, and a denied peer gets 403 ``policy``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from crypto import CryptoError
from crypto.httpsig import verify_request
from node.api.client_address import client_address
from node.api.keys import FEDERATION, NODE, PEER
from node.api.problems import ApiError
from node.api.ratelimit import RateLimiter

LIMITER = web.AppKey("rate_limiter", RateLimiter)


def _candidate_urls(request: web.Request, public_url: str) -> list[str]:
    seen = f"{request.scheme}://{request.host}{request.raw_path}"
    public = public_url.rstrip("/") + request.raw_path
    return [seen] if seen == public else [seen, public]


@web.middleware
async def peer_auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    node = request.app[NODE]
    if "Signature-Input" in request.headers or "Signature" in request.headers:
        body = await request.read()
        fed = node.config.federation
        error: CryptoError | None = None
        for url in _candidate_urls(request, node.config.public_url):
            try:
                key = verify_request(
                    method=request.method,
                    url=url,
                    headers=request.headers.items(),
                    body=body,
                    now=node.clock.now_ms() // 1000,
                    max_age=fed.signature_max_age,
                    replay_cache=node.peers.replay_cache,
                )
            except CryptoError as exc:
                error = exc
                continue
            request[PEER] = key.did
            break
        else:
            raise ApiError(
                401, "signature", f"request signature refused: {error}", "bad request signature"
            )
        if node.peers.retired_too_long(request[PEER], node.clock.now_ms(), fed.node_key_grace):
            raise ApiError(
                401,
                "signature",
                f"node key {request[PEER]} was retired by its organisation",
                "retired node key",
            )
        denial = node.peers.denial(request[PEER], fed)
        if denial is not None:
            raise ApiError(403, "policy", denial, "refused by policy")
        federation = request.app[FEDERATION]
        if federation is not None:
            federation.contacted(request[PEER])
    if request.method == "POST":
        who = request.get(PEER) or client_address(request)
        wait = request.app[LIMITER].take(who, node.clock.monotonic())
        if wait > 0:
            raise ApiError(
                429,
                "rate-limited",
                f"too many requests from {who}; retry in {wait:.1f} s",
                "rate limited",
            )
    return await handler(request)
