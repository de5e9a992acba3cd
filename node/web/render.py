"""Rendering pages: one Jinja environment (autoescaped), the security headers every page
carries, and HTML error pages for the board's routes."""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from crypto import did_from_raw
from node.api.keys import NODE
from node.web.i18n import LANG_COOKIE, Speaker, choose_language, messages

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# No inline script or style, nothing from elsewhere: every asset is served by this node.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["did"] = lambda raw: did_from_raw(raw) if isinstance(raw, bytes) else str(raw)
ENV.filters["hex"] = lambda b: b.hex() if isinstance(b, bytes) else str(b)
ENV.filters["short"] = lambda s: s if len(s) <= 24 else f"{s[:16]}…{s[-6:]}"


class PageError(Exception):
    """A board page that cannot be shown: rendered as an HTML page with this status."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    lang, asked = choose_language(request)
    node = request.app[NODE]
    t = Speaker(lang)
    other = "en" if lang == "ja" else "ja"
    switch = {k: v for k, v in request.query.items() if k != "lang"}
    switch["lang"] = other
    html = ENV.get_template(template).render(
        t=t,
        T=messages(lang),
        other_lang=other,
        switch_url=f"{request.path}?{urllib.parse.urlencode(switch)}",
        lang=lang,
        node_name=node.config.name,
        path=request.path,
        query=request.query,
        **context,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers.update(SECURITY_HEADERS)
    if asked:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", httponly=True, path="/"
        )
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(handler: Handler) -> Handler:
    """Turn a ``PageError`` raised by ``handler`` into an HTML error page."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except PageError as exc:
            return render(request, "error.html", {"key": exc.key, "values": exc.values}, exc.status)

    return wrapped


async def static_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the same headers on static files and board pages."""
    if request.path.startswith("/static/"):
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "public, max-age=3600"
