"""HTTP caching: records by id are content-addressed (immutable, ``ETag`` the id, 304 on
``If-None-Match``); lists and views may be cached for a few seconds; streams never."""

from __future__ import annotations

from aiohttp import web

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"
DESCRIPTIONS = "public, max-age=300"  # the node's identity and its API document
DESCRIPTION_PATHS = frozenset({"/.well-known/rakuichi", "/v1/openapi.json"})
NO_SHARED_CACHE = ("/v1/peers",)
API_PREFIXES = ("/v1/", "/.well-known/")


def etag_matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` against a strong tag, compared weakly (RFC 9110 section 13.1.2)."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def immutable_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": IMMUTABLE, "Vary": "Accept"}


def not_modified(request: web.Request, etag: str) -> web.Response | None:
    """A 304 when the client already holds ``etag``, else None."""
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=immutable_headers(etag))
    return None


def add_cache_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Before a response is sent: API reads that set no caching of their own get a short max-age."""
    if request.method not in ("GET", "HEAD") or "Cache-Control" in response.headers:
        return
    if not request.path.startswith(API_PREFIXES):  # the web board's pages set their own
        return
    if response.status != 200 or request.path.startswith(NO_SHARED_CACHE):
        response.headers["Cache-Control"] = "no-store" if response.status >= 500 else "no-cache"
        return
    response.headers["Cache-Control"] = DESCRIPTIONS if request.path in DESCRIPTION_PATHS else SHORT
