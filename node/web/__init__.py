"""The web board: server-rendered pages for people, on the same port as the API.

``add_web(app)`` mounts the pages and the static assets on the node's one application.
"""

from __future__ import annotations

from aiohttp import web

from node.web import pages, recordpages
from node.web.admin import setup_admin
from node.web.render import STATIC, static_headers


def add_web(app: web.Application) -> None:
    app.add_routes(pages.routes)
    app.add_routes(recordpages.routes)
    setup_admin(app)
    app.router.add_static("/static/", STATIC, name="static", append_version=False)
    app.on_response_prepare.append(static_headers)
