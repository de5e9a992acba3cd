"""Token buckets per client, and the ``RateLimit-Policy`` / ``RateLimit`` fields of the IETF
httpapi draft (revision 10) that tell a client where it stands.

A bucket of ``burst`` tokens refilled at ``rate`` per second is advertised as a quota
``q=burst`` over a window ``w`` (the seconds a refill from empty takes). Policies: ``address``
(every request, by client address: node/api/limits.py), ``peer`` (signed requests of a known
peer) and ``search`` (full-text searches, ``GET /v1/opportunities?q=``, which cost more).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

from aiohttp import web

from crypto import did_from_raw
from node.api.client_address import client_address
from node.api.keys import NODE, PEER
from node.api.problems import ApiError


class Verdict(NamedTuple):
    wait: float  # 0 when allowed, else the seconds until a token is there
    remaining: int  # whole tokens left
    reset: float  # seconds until the bucket is full again


class RateLimiter:
    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._policies: dict[str, str] = {}

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
        text = self._policies.get(name)
        if text is None:
            window = max(1, math.ceil(self.burst / self.rate)) if self.rate > 0 else 0
            text = self._policies[name] = f'"{name}";q={int(self.burst)};w={window}'
        return text


RATE_STATE = web.RequestKey("rate_state", dict)  # policy name -> (policy item, state item)
SEARCH_LIMITER = web.AppKey("search_rate_limiter", RateLimiter)


def verdict_items(limiter: RateLimiter, name: str, verdict: Verdict) -> tuple[str, str]:
    """The ``RateLimit-Policy`` and ``RateLimit`` items of a standing under policy ``name``."""
    reset = math.ceil(verdict.wait if verdict.wait > 0 else verdict.reset)
    return limiter.policy(name), f'"{name}";r={verdict.remaining};t={reset}'


def record_verdict(
    request: web.Request, limiter: RateLimiter, name: str, verdict: Verdict
) -> dict[str, tuple[str, str]]:
    """Note the request's standing under policy ``name``; every policy's so far."""
    state: dict[str, tuple[str, str]] | None = request.get(RATE_STATE)
    if state is None:
        state = request[RATE_STATE] = {}
    state[name] = verdict_items(limiter, name, verdict)
    return state


def rate_headers(state: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {
        "RateLimit-Policy": ", ".join(policy for policy, _ in state.values()),
        "RateLimit": ", ".join(current for _, current in state.values()),
    }


def limited(
    request: web.Request, limiter: RateLimiter, name: str, who: str, now: float
) -> ApiError | None:
    """Spend a token of ``who`` under policy ``name``; the 429 to raise when none is left."""
    verdict = limiter.spend(who, now)
    state = record_verdict(request, limiter, name, verdict)
    if verdict.wait <= 0:
        return None
    return ApiError(
        429,
        "rate-limited",
        f"too many requests from {who} under policy {name}; retry in {verdict.wait:.1f} s",
        "rate limited",
        retry_after=verdict.wait,
        headers=rate_headers(state),
    )


def charge_search(request: web.Request) -> None:
    """Full-text searches spend a token of the ``search`` policy too (429 when none is left)."""
    if request.path == "/v1/opportunities" and request.method == "GET" and request.query.get("q"):
        peer = request.get(PEER)
        who = did_from_raw(peer) if peer is not None else client_address(request)
        limiter = request.app[SEARCH_LIMITER]
        error = limited(request, limiter, "search", who, request.app[NODE].clock.monotonic())
        if error is not None:
            raise error


def add_rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Before a response is sent: every rate-limited response says where the client stands."""
    state = request.get(RATE_STATE)
    if state:
        for name, value in rate_headers(state).items():
            response.headers.setdefault(name, value)
