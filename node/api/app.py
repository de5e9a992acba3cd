"""The one ``web.Application`` factory of a node."""

from __future__ import annotations

from aiohttp import web

from node.api import (
    alliances,
    credentials,
    directory,
    federation,
    identities,
    openapi,
    private,
    records,
    reputation,
    stream,
)
from node.api.bodies import BODY_BUDGET, BodyBudget
from node.api.faults import STORAGE_GUARD
from node.api.gate import gate, response_headers
from node.api.keys import CONTACTED, NODE, PEER_TABLE, SYNC_INDEX
from node.api.limits import REQUEST_LIMITS, RequestLimits
from node.api.ratelimit import SEARCH_LIMITER, RateLimiter
from node.api.recordviews import RECORD_VIEWS, RecordViews
from node.api.stream import STREAM_HUB
from node.api.streamhub import StreamHub
from node.federation.manager import Federation
from node.federation.syncindex import SyncIndex
from node.ops import endpoints as ops_endpoints
from node.service import Node
from node.web import add_web


def make_app(
    node: Node, fed: Federation | None = None, sync_index: SyncIndex | None = None
) -> web.Application:
    """The node's HTTP application; ``sync_index`` answers reconciliation when this process
    does not run the federation (a worker of a node of several processes)."""
    app = web.Application(middlewares=[gate], client_max_size=node.config.max_body_bytes)
    app[NODE] = node
    app[PEER_TABLE] = fed
    app[CONTACTED] = fed.contacted if fed is not None else None
    app[STORAGE_GUARD] = node.storage_guard
    app[SYNC_INDEX] = sync_index or (fed.index if fed is not None else None)
    app[BODY_BUDGET] = BodyBudget(node.config.limits.body_bytes_in_flight)
    app[REQUEST_LIMITS] = RequestLimits.make(node.config.rate_limit, node.config.rate_burst)
    app[SEARCH_LIMITER] = RateLimiter(node.config.search_rate_limit, node.config.search_rate_burst)
    app[RECORD_VIEWS] = RecordViews()
    node.store.on_commit.append(app[RECORD_VIEWS].on_commit)
    app.on_cleanup.append(_forget_views)
    app.on_response_prepare.append(response_headers)
    for module in (
        directory,
        records,
        federation,
        alliances,
        reputation,
        credentials,
        private,
        identities,
        stream,
        openapi,
    ):
        app.add_routes(module.routes)
    ops_endpoints.install(app, node, fed)
    app[STREAM_HUB] = StreamHub(
        node.store,
        heartbeat=node.config.stream_heartbeat,
        buffer_bytes=node.config.stream_buffer_bytes,
        max_subscribers=node.config.stream_max_subscribers,
    )
    app.on_startup.append(_start_hub)
    app.on_shutdown.append(_stop_hub)
    add_web(app)
    return app


async def _forget_views(app: web.Application) -> None:
    app[NODE].store.on_commit.remove(app[RECORD_VIEWS].on_commit)


async def _start_hub(app: web.Application) -> None:
    await app[STREAM_HUB].start()


async def _stop_hub(app: web.Application) -> None:
    await app[STREAM_HUB].stop()
