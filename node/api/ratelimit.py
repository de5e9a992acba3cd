"""Token buckets per client (a peer's node key, or the remote address of unsigned clients),
and the ``RateLimit-Policy`` / ``RateLimit`` fields of the IETF httpapi draft (revision 10).

Two policies: ``post`` for every POST, ``search`` for full-text searches (``GET
/v1/opportunities?q=``). A bucket of ``burst`` tokens refilled at ``rate`` per second is
advertised as a quota ``q=burst`` over a window ``w`` (the seconds a refill from empty takes).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from node.api.client_address import client_address
from node.api.keys import NODE, PEER
from node.api.problems import ApiError


@dataclass(frozen=True)
class Verdict:
    wait: float  # 0 when allowed, else the seconds until a token is there
    remaining: int  # whole tokens left
    reset: float  # seconds until the bucket is full again


class RateLimiter:
    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Spend one token; 0 when allowed, else the seconds until a token is there."""
        return self.spend(client, now).wait

    def spend(self, client: str, now: float) -> Verdict:
        if self.rate <= 0:
            return Verdict(0.0, 0, 0.0)
        tokens, stamp = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return Verdict(wait, int(tokens), (self.burst - tokens) / self.rate)

    def policy(self, name: str) -> str:
        window = max(1, math.ceil(self.burst / self.rate)) if self.rate > 0 else 0
        return f'"{name}";q={int(self.burst)};w={window}'


LIMITER = web.AppKey("rate_limiter", RateLimiter)
SEARCH_LIMITER = web.AppKey("search_rate_limiter", RateLimiter)
RATE_HEADERS = web.RequestKey("rate_headers", dict)


def _limited(request: web.Request) -> tuple[str, RateLimiter] | None:
    if request.method == "POST":
        return "post", request.app[LIMITER]
    if request.method == "GET" and request.path == "/v1/opportunities" and request.query.get("q"):
        return "search", request.app[SEARCH_LIMITER]
    return None


@web.middleware
async def rate_limit_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Spend a token of the request's policy; 429 with ``Retry-After`` when none is left."""
    limited = _limited(request)
    if limited is None or limited[1].rate <= 0:
        return await handler(request)
    name, limiter = limited
    who = request.get(PEER) or client_address(request)
    verdict = limiter.spend(who, request.app[NODE].clock.monotonic())
    wait = math.ceil(verdict.wait)
    headers = {
        "RateLimit-Policy": limiter.policy(name),
        "RateLimit": f'"{name}";r={verdict.remaining};t={wait or math.ceil(verdict.reset)}',
    }
    request[RATE_HEADERS] = headers
    if verdict.wait > 0:
        raise ApiError(
            429,
            "rate-limited",
            f"too many requests from {who} under policy {name}; retry in {wait} s",
            "rate limited",
            headers={**headers, "Retry-After": str(wait)},
        )
    return await handler(request)


async def add_rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: successful limited responses tell the client where it stands."""
    for name, value in request.get(RATE_HEADERS, {}).items():
        response.headers.setdefault(name, value)
