"""``/healthz``, ``/readyz`` and ``/metrics``, and what logs and counts every request (``observe``).

``install(app, node, fed)`` is the one hook ``make_app`` calls; ``mark_listening(app)`` is
called by the runner once the socket is bound.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from crypto import did_from_raw
from node.api.client_address import client_address, is_local
from node.api.keys import NODE, OBSERVE, OBSERVE_PLAIN, PEER, SYNC_INDEX, ObservePlain
from node.api.problems import ApiError
from node.federation.manager import Federation
from node.federation.syncindex import SyncIndex
from node.ops.logsetup import ACCESS_LOGGER
from node.ops.metrics import NodeMetrics
from node.service import Node

access_log = logging.getLogger(ACCESS_LOGGER)
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: access lines at DEBUG


@dataclass
class Readiness:
    index: SyncIndex | None  # the federation's, or a worker's copy
    listening: bool = False

    def reasons(self) -> list[str]:
        """What still keeps the node from being ready (empty: ready)."""
        waiting = []
        if not self.listening:
            waiting.append("not listening yet")
        if self.index is not None and not self.index.ready.is_set():
            waiting.append("sync index loading")
        return waiting


def _typed(description: str, schema: str, content_type: str = "application/json") -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {content_type: {"schema": ref}}}


# merged into the OpenAPI document (node/api/openapi.py)
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": {
            "summary": "liveness: the process answers",
            "responses": {"200": _typed('{"status": "ok"}', "Health")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "readiness: store open, sync index loaded, listening",
            "responses": {
                "200": _typed('{"status": "ready"}', "Readiness"),
                "503": _typed('{"status": "loading", "reasons": [...]}', "Readiness"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (loopback, or Authorization: Bearer admin_token)",
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "403": _typed(
                    "not loopback and no valid admin token", "Problem", "application/problem+json"
                ),
            },
        }
    },
}

READINESS = web.AppKey("readiness", Readiness)
METRICS = web.AppKey("metrics", NodeMetrics)
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process answers (liveness); says nothing about the store or peers."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    reasons = request.app[READINESS].reasons()
    if reasons:
        return web.json_response({"status": "loading", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


def _authorised(request: web.Request) -> bool:
    if is_local(request):
        return True
    token = request.app[NODE].config.admin_token
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not _authorised(request):
        raise ApiError(
            403,
            "policy",
            "metrics are served to loopback, or with Authorization: Bearer <[node] admin_token>",
            "forbidden",
        )
    ready = not request.app[READINESS].reasons()
    body = await request.app[METRICS].render(ready)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _did_or_none(raw: bytes | None) -> str | None:
    return None if raw is None else did_from_raw(raw)


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe(request: web.Request, status: int, size: int | None, seconds: float) -> None:
    """One access-log line and the HTTP metrics for every request (``node.api.gate``)."""
    request.app[METRICS].observe_request(_route_of(request), request.method, status, seconds)
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    if access_log.isEnabledFor(level):
        _log_access(
            level,
            client_address(request),
            request.method,
            request.path_qs,
            status,
            size,
            seconds,
            _did_or_none(request.get(PEER)),
        )


def _log_access(
    level: int,
    client: str,
    method: str,
    path: str,
    status: int,
    size: int | None,
    seconds: float,
    peer: str | None,
) -> None:
    access_log.log(
        level,
        '%s "%s %s" %d %s %.1fms',
        client,
        method,
        path,
        status,
        "-" if size is None else size,
        seconds * 1000,
        extra={
            "client": client,
            "method": method,
            "path": path,
            "status": status,
            "bytes": size,
            "duration_ms": round(seconds * 1000, 2),
            "peer": peer,
        },
    )


def observer_of(metrics: NodeMetrics) -> ObservePlain:
    """``observe`` for a request answered without a request object (``node.api.fastread``):
    the same metrics and the same access-log line."""

    def observe_plain(
        client: str, method: str, path: str, route: str, status: int, size: int, seconds: float
    ) -> None:
        metrics.observe_request(route, method, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(logging.INFO, client, method, path, status, size, seconds, None)

    return observe_plain


def install(app: web.Application, node: Node, fed: Federation | None) -> None:
    """Call after ``app[SYNC_INDEX]`` is set (readiness waits for that index to load)."""
    app[READINESS] = Readiness(app[SYNC_INDEX])
    app[METRICS] = NodeMetrics(node, fed)
    app[OBSERVE] = observe
    app[OBSERVE_PLAIN] = observer_of(app[METRICS])
    app.add_routes(routes)


def mark_listening(app: web.Application) -> None:
    app[READINESS].listening = True
