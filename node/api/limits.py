"""Request rate limits: every request against its client address, known peers per key too.

* Each request (any method, signed or not) takes a token from the bucket of its client
  address (``client_address``: the forwarded address behind a trusted proxy). A stranger gets
  no more by signing with fresh keys.
* A signed request from a peer this node already knows (a pinned or learned peer) also takes
  one from that peer's key bucket; unknown keys get no bucket of their own, so they cannot
  fill the table.
* 429 always carries ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from node.api.client_address import client_address
from node.api.keys import NODE
from node.api.ratelimit import RateLimiter, limited


@dataclass
class RequestLimits:
    by_address: RateLimiter
    by_peer: RateLimiter
    limited: int = 0  # requests answered 429

    @classmethod
    def make(cls, rate: float, burst: float) -> RequestLimits:
        return cls(RateLimiter(rate, burst), RateLimiter(rate, burst, max_clients=4096))

    def charge(
        self, request: web.Request, limiter: RateLimiter, policy: str, who: str, now: float
    ) -> None:
        """Spend a token of ``who`` under ``policy``; 429 (with ``Retry-After`` and the
        ``RateLimit`` fields) when none is left."""
        error = limited(request, limiter, policy, who, now)
        if error is not None:
            self.limited += 1
            raise error


REQUEST_LIMITS = web.AppKey("request_limits", RequestLimits)


def charge_address(request: web.Request) -> None:
    """Every request spends a token of its client address (429 when none is left)."""
    limits = request.app[REQUEST_LIMITS]
    address = client_address(request)
    limits.charge(
        request, limits.by_address, "address", address, request.app[NODE].clock.monotonic()
    )
