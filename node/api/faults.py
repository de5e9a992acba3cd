"""Storage faults as problem documents: 507 for a full disk, 503 with Retry-After otherwise
(see ``node.storage.faults``), logged once per episode instead of a traceback per request."""

from __future__ import annotations

from aiohttp import web

from node.api.problems import ApiError
from node.storage.faults import StorageGuard

STORAGE_GUARD = web.AppKey("storage_guard", StorageGuard)


def storage_problem(request: web.Request, exc: Exception) -> ApiError | None:
    """The problem for a storage fault (noted once per episode), or None for other errors."""
    guard = request.app[STORAGE_GUARD]
    fault = guard.classify(exc)
    if fault is None:
        return None
    guard.note(fault)
    return ApiError(fault.status, fault.klass, fault.detail, "storage fault", fault.retry_after)
