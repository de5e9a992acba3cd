"""The one ``web.Application`` factory of a node."""

from __future__ import annotations

from aiohttp import web

from node.api import (
    alliances,
    credentials,
    directory,
    federation,
    openapi,
    records,
    reputation,
)
from node.api.auth import peer_auth_middleware
from node.api.bodies import BODY_BUDGET, BodyBudget, body_middleware
from node.api.keys import FEDERATION, NODE
from node.api.limits import REQUEST_LIMITS, RequestLimits, address_limit_middleware
from node.api.problems import problem_middleware
from node.federation.manager import Federation
from node.service import Node


def make_app(node: Node, fed: Federation | None = None) -> web.Application:
    app = web.Application(
        middlewares=[
            problem_middleware,
            address_limit_middleware,
            body_middleware,
            peer_auth_middleware,
        ],
        client_max_size=node.config.max_body_bytes,
    )
    app[NODE] = node
    app[FEDERATION] = fed
    app[BODY_BUDGET] = BodyBudget(node.config.limits.body_bytes_in_flight)
    app[REQUEST_LIMITS] = RequestLimits.make(node.config.rate_limit, node.config.rate_burst)
    for module in (directory, records, federation, alliances, reputation, credentials, openapi):
        app.add_routes(module.routes)
    return app
