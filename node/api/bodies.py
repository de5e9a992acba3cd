"""Request bodies read under limits, before any handler sees them.

* a body must arrive at ``body_min_rate`` bytes per second on average once ``body_grace``
  seconds have passed (else 408 and the connection is closed);
* a body is refused (413) as soon as it passes the cap of its route: a single record over
  ``MAX_RECORD_BYTES`` (64 KiB) as soon as 64 KiB have arrived, a bundle over
  ``bundle_max_bytes``, anything else over ``max_body_bytes``; a declared ``Content-Length``
  over the cap is refused before a byte is read;
* the body bytes held by all requests in progress are capped at ``body_bytes_in_flight``:
  past it, 503 with ``Retry-After``.

The body read here is what ``request.read()`` then returns to the handlers.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from node.api.keys import NODE
from node.api.problems import problem_response
from protocol import MAX_RECORD_BYTES

SINGLE_RECORD_ROUTES = ("/v1/records",)
BUNDLE_ROUTE = "/v1/reputation/verify"
FETCH_ROUTE = "/v1/records/fetch"
FETCH_MAX_BYTES = 64 * 1024  # 1024 ids of 32 bytes, msgpack framed


class BodyRefused(Exception):
    def __init__(self, status: int, klass: str, detail: str, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status, self.klass, self.detail, self.retry_after = status, klass, detail, retry_after


class BodyBudget:
    """Body bytes buffered by requests in progress, across all connections."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self.refused = 0  # requests answered 503 because the budget was spent

    def take(self, size: int) -> None:
        if self.capacity and self.in_flight + size > self.capacity:
            self.refused += 1
            raise BodyRefused(
                503,
                "busy",
                f"this node is reading {self.in_flight} bytes of request bodies, its limit;"
                " try again shortly",
                retry_after=1,
            )
        self.in_flight += size

    def give_back(self, size: int) -> None:
        self.in_flight -= size


BODY_BUDGET = web.AppKey("body_budget", BodyBudget)


def _is_array_start(first: int) -> bool:
    return 0x90 <= first <= 0x9F or first in (0xDC, 0xDD)


def route_cap(request: web.Request) -> int:
    node = request.app[NODE]
    if request.path == BUNDLE_ROUTE:
        return node.config.limits.bundle_max_bytes
    if request.path == FETCH_ROUTE:
        return FETCH_MAX_BYTES
    return node.config.max_body_bytes


async def read_body(request: web.Request, budget: BodyBudget) -> tuple[bytes, int]:
    """The whole body, read under the limits; returns it and the bytes taken from ``budget``
    (the caller gives them back once the request is answered)."""
    limits = request.app[NODE].config.limits
    cap = route_cap(request)
    single_record = (  # a JSON view is bigger than its wire bytes: checked once mapped back
        request.method == "POST"
        and request.path in SINGLE_RECORD_ROUTES
        and request.content_type != "application/json"
    )
    declared = request.content_length
    if declared is not None and declared > cap:
        raise BodyRefused(
            413, "size", f"request body of {declared} bytes is over this limit of {cap} bytes"
        )
    loop = asyncio.get_running_loop()
    start = loop.time()
    body = bytearray()
    taken = 0
    try:
        while True:
            allowed = start + limits.body_grace + len(body) / max(1, limits.body_min_rate)
            remaining = allowed - loop.time()
            if remaining <= 0:
                raise BodyRefused(
                    408, "timeout", f"request body slower than {limits.body_min_rate} bytes/s"
                )
            chunk = request.content.read_nowait()  # what has arrived: no timer needed
            if not chunk:
                if request.content.is_eof():
                    break
                try:
                    async with asyncio.timeout(remaining):
                        chunk = await request.content.readany()
                except TimeoutError:
                    raise BodyRefused(
                        408, "timeout", f"request body slower than {limits.body_min_rate} bytes/s"
                    ) from None
                if not chunk:
                    break
            budget.take(len(chunk))
            taken += len(chunk)
            body.extend(chunk)
            if single_record and not _is_array_start(body[0]) and len(body) > MAX_RECORD_BYTES:
                raise BodyRefused(
                    413, "size", f"a single record is at most {MAX_RECORD_BYTES} bytes"
                )
            if len(body) > cap:
                raise BodyRefused(413, "size", f"request body is over this limit of {cap} bytes")
    except BaseException:
        budget.give_back(taken)
        raise
    return bytes(body), taken


async def take_body(request: web.Request) -> web.Response | int:
    """Read the request's body under the limits before any handler sees it (``request.read()``
    then returns it): the bytes taken from the budget, for the caller to give back once the
    request is answered, or the refusal to send (the connection then ends)."""
    try:
        body, taken = await read_body(request, request.app[BODY_BUDGET])
    except BodyRefused as exc:
        response = problem_response(exc.status, exc.klass, exc.klass, exc.detail, request.path)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        response.force_close()  # the rest of the body is not read: the connection ends
        return response
    request._read_bytes = body  # what request.read() returns from now on
    return taken
