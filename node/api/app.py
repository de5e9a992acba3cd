"""The one ``web.Application`` factory of a node."""

from __future__ import annotations

from aiohttp import web

from node.api import directory, openapi, records
from node.api.keys import NODE
from node.api.problems import problem_middleware
from node.service import Node


def make_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[problem_middleware],
                          client_max_size=node.config.max_body_bytes)
    app[NODE] = node
    for module in (directory, records, openapi):
        app.add_routes(module.routes)
    return app
