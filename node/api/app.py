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
    records,
    reputation,
)
from node.api.auth import LIMITER, peer_auth_middleware
from node.api.bodies import BODY_BUDGET, BodyBudget, body_middleware
from node.api.keys import FEDERATION, NODE
from node.api.problems import problem_middleware
from node.api.ratelimit import RateLimiter
from node.federation.manager import Federation
from node.service import Node


def make_app(node: Node, fed: Federation | None = None) -> web.Application:
    app = web.Application(
        middlewares=[problem_middleware, body_middleware, peer_auth_middleware],
        client_max_size=node.config.max_body_bytes,
    )
    app[NODE] = node
    app[FEDERATION] = fed
    app[BODY_BUDGET] = BodyBudget(node.config.limits.body_bytes_in_flight)
    app[LIMITER] = RateLimiter(node.config.rate_limit, node.config.rate_burst)
    modules = (directory, records, federation, alliances, reputation, credentials, identities)
    for module in (*modules, openapi):
        app.add_routes(module.routes)
    return app
