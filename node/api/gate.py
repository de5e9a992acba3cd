"""The one middleware every request passes, and the headers every response gets.

Everything a node does before and around a handler, in one frame and in this order (one
middleware per concern cost a third of a read by id):

1. the time it took, an access-log line and the HTTP metrics (``OBSERVE``), whatever happens;
2. a CORS preflight is answered before the router's 405 (``cors``);
3. errors become problem documents (``problems``), storage faults 507/503 (``faults``);
4. the client address spends a token (``limits``);
5. a body is read under the limits before any handler sees it (``bodies``);
6. a signed request names its peer, or is refused (``auth``);
7. a full-text search spends a token of its own (``ratelimit``).

``response_headers`` runs as responses are prepared (streams and problems included): CORS,
caching and where the client stands under the rate limits.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from node.api.auth import identify_peer
from node.api.bodies import BODY_BUDGET, take_body
from node.api.caching import add_cache_headers
from node.api.cors import add_cors_headers, preflight
from node.api.faults import storage_problem
from node.api.keys import OBSERVE
from node.api.limits import charge_address
from node.api.problems import ApiError, problem_of
from node.api.ratelimit import add_rate_headers, charge_search

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    size: int | None = None
    try:
        response = await _answer(request, handler)
        status = response.status
        # a handler's response is sent after this frame: its length is the body's
        size = response.body_length if response.prepared else response.content_length
        return response
    except web.HTTPException as exc:  # a redirect (errors are answered as problems)
        status = exc.status
        raise
    finally:
        observe = request.app.get(OBSERVE)
        if observe is not None:
            observe(request, status, size, time.perf_counter() - started)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS":
        answered = await preflight(request)
        if answered is not None:
            return answered
    taken = 0
    try:
        try:
            charge_address(request)
            if request.body_exists:
                refused_or_taken = await take_body(request)
                if isinstance(refused_or_taken, web.Response):
                    return refused_or_taken
                taken = refused_or_taken
            await identify_peer(request)
            charge_search(request)
            return await handler(request)
        except (ApiError, web.HTTPException):
            raise
        except Exception as exc:
            fault = storage_problem(request, exc)
            if fault is None:
                raise
            raise fault from None
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_of(request, exc)
    except Exception as exc:
        return problem_of(request, exc)
    finally:
        if taken:
            request.app[BODY_BUDGET].give_back(taken)


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: CORS, caching and rate-limit fields."""
    add_cors_headers(request, response)
    add_cache_headers(request, response)
    add_rate_headers(request, response)
