"""``/admin``: the operator's dashboard. Served to loopback clients (not through a proxy), or
with ``[node] admin_token`` (``Authorization: Bearer``, or a cookie set by ``?token=``);
everyone else gets 404, as if there were no such page. Forms carry a CSRF token."""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from crypto import did_from_raw
from node.api.client_address import is_local
from node.api.keys import NODE, PEER_TABLE
from node.ingest import Outcome
from node.web import denylist
from node.web.render import PageError, page, render

routes = web.RouteTableDef()
COOKIE = "rakuichi_admin"
RECENT = 200


@dataclass
class Refusals:
    """The most recent refusals (time, class, detail, source), newest last; the time is read
    from ``now_ms`` (the node's clock)."""

    now_ms: Callable[[], int]
    recent: collections.deque[tuple[int, str, str, str]] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT)
    )

    def observe(self, outcomes: Iterable[Outcome], source: bytes | None) -> None:
        now = self.now_ms()
        for outcome in outcomes:
            if outcome.refusal is not None:
                self.recent.append(
                    (
                        now,
                        outcome.refusal.klass,
                        outcome.refusal.detail[:300],
                        did_from_raw(source) if source is not None else "",
                    )
                )

    def by_class(self) -> list[tuple[str, int]]:
        return collections.Counter(klass for _, klass, _, _ in self.recent).most_common()


REFUSALS = web.AppKey("web_refusals", Refusals)
CSRF_SECRET = web.AppKey("web_csrf_secret", bytes)


async def _listen(app: web.Application) -> None:
    app[NODE].ingestor.outcome_listeners.append(app[REFUSALS].observe)


async def _unlisten(app: web.Application) -> None:
    listeners = app[NODE].ingestor.outcome_listeners
    if app[REFUSALS].observe in listeners:
        listeners.remove(app[REFUSALS].observe)


def setup_admin(app: web.Application) -> None:
    app[REFUSALS] = Refusals(app[NODE].clock.now_ms)
    app[CSRF_SECRET] = secrets.token_bytes(32)
    app.on_startup.append(_listen)
    app.on_cleanup.append(_unlisten)
    app.add_routes(routes)


def _token_ok(request: web.Request, given: str) -> bool:
    token = request.app[NODE].config.admin_token
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def _allowed(request: web.Request) -> bool:
    if is_local(request):
        return True
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and _token_ok(request, bearer[7:]):
        return True
    return _token_ok(request, request.cookies.get(COOKIE, ""))


def _guard(request: web.Request) -> None:
    if not _allowed(request):
        raise web.HTTPNotFound()


def csrf_token(request: web.Request) -> str:
    """A token only this node's pages know: forms echo it, other sites cannot read it."""
    return hmac.new(request.app[CSRF_SECRET], b"admin-forms", hashlib.sha256).hexdigest()


async def _check_csrf(request: web.Request) -> str:
    form = await request.post()
    given = str(form.get("csrf", ""))
    origin = request.headers.get("Origin")
    same_origin = origin is None or origin in (
        request.app[NODE].config.public_url,
        f"{request.scheme}://{request.host}",
    )
    if not (same_origin and hmac.compare_digest(given.encode(), csrf_token(request).encode())):
        raise PageError(403, "error.csrf")
    return str(form.get("target", ""))


@routes.get("/admin")
@page
async def dashboard(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token")
    if token is not None and _token_ok(request, token):
        response = web.HTTPSeeOther("/admin")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/admin")
        raise response
    _guard(request)
    return await _render(request, None)


async def _render(request: web.Request, notice: str | None, status: int = 200) -> web.Response:
    node = request.app[NODE]
    fed = request.app[PEER_TABLE]
    peers = await fed.peer_table() if fed is not None else []
    return render(
        request,
        "admin.html",
        {
            "peers": sorted(peers, key=lambda p: str(p["url"])),
            "counts": await node.store.counts_by_kind(),
            "refusal_classes": request.app[REFUSALS].by_class(),
            "refusals": list(reversed(request.app[REFUSALS].recent))[:20],
            "denied": denylist.denied(node.config.config_path),
            "csrf": csrf_token(request),
            "notice": notice,
        },
        status,
    )


async def _change_denylist(
    request: web.Request, change: Callable[[Path, str], object]
) -> web.StreamResponse:
    """A deny or undeny form: guarded, CSRF-checked, then back to the dashboard."""
    _guard(request)
    target = await _check_csrf(request)
    try:
        change(request.app[NODE].config.config_path, target)
    except ValueError:
        raise PageError(400, "admin.bad_target", target=target[:200]) from None
    raise web.HTTPSeeOther("/admin?done=1")


@routes.post("/admin/deny")
@page
async def deny(request: web.Request) -> web.StreamResponse:
    return await _change_denylist(request, denylist.deny)


@routes.post("/admin/undeny")
@page
async def undeny(request: web.Request) -> web.StreamResponse:
    return await _change_denylist(request, denylist.undeny)
