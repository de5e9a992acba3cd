"""The board (``/``), an organisation (``/orgs/{did}``) and a member (``/members/{did}``)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from crypto import InvalidDid, raw_from_did
from node.api.keys import NODE
from node.storage import queries
from node.storage.reputation_queries import reputation_of
from node.web import data
from node.web.render import PageError, page, render
from protocol import kinds
from protocol.reputation import AttestationEntry
from protocol.views import GROUNDED, UNGROUNDED

routes = web.RouteTableDef()
PAGE_SIZE = 20
MAX_ORGS_IN_FILTER = 200


def parse_did(value: str) -> bytes:
    try:
        return raw_from_did(value)
    except InvalidDid:
        raise PageError(400, "error.bad_did", value=value[:120]) from None


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in allowed:
        raise PageError(400, "error.bad_param", name=name, value=value[:60])
    return value


def _board_filter(request: web.Request) -> tuple[queries.OpportunityFilter, dict[str, str]]:
    q = request.query
    org_text = q.get("org") or ""
    status = q.get("status", "open")
    if status not in (*kinds.OPPORTUNITY_STATUSES, "any"):
        raise PageError(400, "error.bad_param", name="status", value=status[:60])
    where = queries.OpportunityFilter(
        q=(q.get("q") or "").strip()[:200] or None,
        skill=(q.get("skill") or "").strip()[:64] or None,
        tour=_choice(request, "tour", kinds.TOURS),
        remote=True if q.get("remote") else None,
        org=parse_did(org_text) if org_text else None,
        status=None if status == "any" else status,
        audience="alumni" if q.get("alumni") else None,
    )
    form = {
        "q": where.q or "",
        "skill": where.skill or "",
        "tour": where.tour or "",
        "remote": "1" if where.remote else "",
        "org": org_text,
        "status": status,
        "alumni": "1" if where.audience else "",
    }
    return where, form


def _before(request: web.Request) -> tuple[int, bytes] | None:
    text = request.query.get("before")
    if not text:
        return None
    created, _, rid = text.partition("-")
    try:
        return int(created), bytes.fromhex(rid)
    except ValueError:
        raise PageError(400, "error.bad_param", name="before", value=text[:80]) from None


@routes.get("/")
@page
async def board(request: web.Request) -> web.Response:
    db = request.app[NODE].store.reader
    where, form = _board_filter(request)
    rows = await queries.list_opportunities(db, where, _before(request), PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    opportunities = [data.trusted(r.wire, r.id) for r in rows if r.wire is not None]
    orgs = await queries.list_org_profiles(db, None, MAX_ORGS_IN_FILTER)
    org_choices = sorted(
        ((data.trusted(r.wire, r.id).body["name"], r.author) for r in orgs if r.wire),
        key=lambda pair: pair[0].casefold(),
    )
    org_names = await data.names(db, kinds.ORG_PROFILE, (o.author for o in opportunities))
    next_url = None
    if more:
        last = rows[-1]
        params = {k: v for k, v in form.items() if v}
        params["before"] = f"{last.created}-{last.id.hex()}"
        next_url = "/?" + urllib.parse.urlencode(params)
    return render(
        request,
        "board.html",
        {
            "opportunities": opportunities,
            "org_names": org_names,
            "org_choices": org_choices,
            "form": form,
            "tours": kinds.TOURS,
            "statuses": kinds.OPPORTUNITY_STATUSES,
            "next_url": next_url,
            "paged": "before" in request.query,
        },
    )


@routes.get("/orgs/{did}")
@page
async def org(request: web.Request) -> web.Response:
    node = request.app[NODE]
    db = node.store.reader
    key = parse_did(request.match_info["did"])
    row = await queries.current_of(db, kinds.ORG_PROFILE, key)
    if row is None or row.wire is None:
        raise PageError(404, "org.unknown")
    profile = data.trusted(row.wire, row.id)
    opps = await queries.list_opportunities(
        db, queries.OpportunityFilter(org=key), None, PAGE_SIZE * 5
    )
    items = await data.alliances(db, "org", key)
    people = await data.names(db, kinds.MEMBER_PROFILE, (a.member for a in items))
    people.update(await data.names(db, kinds.ORG_PROFILE, (a.member for a in items)))
    rep = await reputation_of(db, key, node.clock.now_ms())
    context = await _reputation_context(db, rep.attestations, rep.ungrounded, key)
    return render(
        request,
        "org.html",
        {
            "did": request.match_info["did"],
            "profile": profile,
            "opportunities": [data.trusted(r.wire, r.id) for r in opps if r.wire],
            "in_force": data.by_relation(items, in_force=True),
            "alumni": data.by_relation(items, in_force=False),
            "people": people,
            "summary": [rep.summary[k] for k in sorted(rep.summary, key=_summary_order)],
            "counts": await queries.counts_by_kind(db, key),
            **context,
        },
    )


@routes.get("/members/{did}")
@page
async def member(request: web.Request) -> web.Response:
    node = request.app[NODE]
    db = node.store.reader
    key = parse_did(request.match_info["did"])
    row = await queries.current_of(db, kinds.MEMBER_PROFILE, key)
    profile = data.trusted(row.wire, row.id) if row is not None and row.wire else None
    items = await data.alliances(db, "member", key)
    rep = await reputation_of(db, key, node.clock.now_ms())
    context = await _reputation_context(db, rep.attestations, rep.ungrounded, key)
    org_names = await data.names(db, kinds.ORG_PROFILE, (a.org for a in items))
    return render(
        request,
        "member.html",
        {
            "did": request.match_info["did"],
            "profile": profile,
            "alliances": items,
            "alumni_of": sorted({a.org for a in items if not a.in_force and a.alumni}),
            "summary": [rep.summary[k] for k in sorted(rep.summary, key=_summary_order)],
            "org_names": org_names,
            **context,
        },
    )


def _summary_order(k: tuple[str, str | None]) -> tuple[str, str]:
    return (k[0], k[1] or "")


async def _reputation_context(
    db: Any,
    entries: tuple[AttestationEntry, ...],
    ungrounded: tuple[AttestationEntry, ...],
    subject: bytes,
) -> dict[str, Any]:
    """Grounded attestations (newest first) and ungrounded ones apart, with the replies of
    their subject beside them, and the issuers' names."""
    grounded = [e for e in reversed(entries) if e.state == GROUNDED]
    apart = [e for e in reversed(ungrounded) if e.state == UNGROUNDED]
    shown = grounded + apart
    reply_of = await data.replies(db, {e.id: subject for e in shown})
    issuers = {e.issuer for e in shown}
    issuer_names = await data.names(db, kinds.ORG_PROFILE, issuers)
    for k, v in (await data.names(db, kinds.MEMBER_PROFILE, issuers)).items():
        issuer_names.setdefault(k, v)
    return {
        "grounded": grounded,
        "ungrounded": apart,
        "replies": reply_of,
        "issuer_names": issuer_names,
    }
