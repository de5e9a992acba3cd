"""Storage faults as problem documents: 507 for a full disk, 503 with Retry-After otherwise
(see ``node.storage.faults``), logged once per episode instead of a traceback per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from node.api.problems import ApiError
from node.storage.faults import StorageGuard

STORAGE_GUARD = web.AppKey("storage_guard", StorageGuard)


@web.middleware
async def fault_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    guard = request.app[STORAGE_GUARD]
    try:
        return await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        fault = guard.classify(exc)
        if fault is None:
            raise
        guard.note(fault)
        raise ApiError(
            fault.status, fault.klass, fault.detail, "storage fault", fault.retry_after
        ) from None
