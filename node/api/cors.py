"""Cross-origin access for browsers: reads, ``/v1/stream`` and ``POST /v1/records`` answer any
origin (no credentials: nothing here reads cookies); node-to-node and operator routes do not.

Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are answered here, before the
router's 405; the response headers are added just before any response is sent
(``node.api.gate.response_headers``), so that streams and problems carry them too.
"""

from __future__ import annotations

from aiohttp import web

from node.api.problems import problem_response

CROSS_ORIGIN_POSTS = frozenset({"/v1/records"})
PRIVATE_PREFIXES = ("/admin", "/metrics")  # operator routes: same origin only
ALLOW_HEADERS = "Accept, Content-Type, If-None-Match, Last-Event-ID"
EXPOSE_HEADERS = "ETag, Retry-After, RateLimit, RateLimit-Policy, Allow"
MAX_AGE = "86400"


def cross_origin(path: str, method: str) -> bool:
    """Whether ``method`` on the route ``path`` (its canonical form) answers other origins."""
    if path.startswith(PRIVATE_PREFIXES):
        return False
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and path in CROSS_ORIGIN_POSTS


def _canonical(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


async def preflight(request: web.Request) -> web.Response | None:
    """The answer to a preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``), given before the router's 405; None for any other
    request."""
    wanted = request.headers.get("Access-Control-Request-Method", "").upper()
    if request.method != "OPTIONS" or "Origin" not in request.headers or not wanted:
        return None
    match = await request.app.router.resolve(request.clone(method=wanted))
    resource = match.route.resource if match.http_exception is None else None
    if resource is None or not cross_origin(resource.canonical, wanted):
        return problem_response(
            403,
            "cross-origin",
            "cross-origin request refused",
            f"{wanted} {request.path} does not answer other origins",
            request.path,
        )
    methods = sorted(
        {r.method for r in resource if cross_origin(resource.canonical, r.method)} | {"OPTIONS"}
    )
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        },
    )


def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Before a response is sent: let any origin read what a cross-origin route answers."""
    if "Origin" not in request.headers or "Access-Control-Allow-Origin" in response.headers:
        return
    if cross_origin(_canonical(request), request.method):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
