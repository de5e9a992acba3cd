"""The board (``/``), an organisation (``/orgs/{did}``) and a member (``/members/{did}``)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crypto import InvalidDid, raw_from_did
from node.api import identities
from node.api.keys import NODE
from node.service import Node
from node.storage import queries
from node.storage.interface import RecordStore
from node.storage.queries import Row
from node.web import shaping
from node.web.render import PageError, page, render
from node.web.shaping import record_of
from protocol import (
    GROUNDED,
    UNGROUNDED,
    AttestationEntry,
    ClaimSummary,
    KeyHistories,
    Record,
    SummaryKey,
    kinds,
)

routes = web.RouteTableDef()
PAGE_SIZE = 20
SHOWN = 25  # items per list on an organisation's or a member's page, unless ?all=1
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
    node = request.app[NODE]
    store = node.store
    keys = await node.key_histories.histories()
    where, form = _board_filter(request)
    where = await identities.opportunities_by_identity(node, where)  # ?org= by identity
    rows = await store.list_opportunities(where, _before(request), PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    shown = await identities.shown_by_identity(node, rows)
    opportunities = [record_of(r) for r in shown if r.wire is not None]
    orgs = await identities.shown_by_identity(
        node, await store.list_org_profiles(None, MAX_ORGS_IN_FILTER)
    )
    org_choices = sorted(  # one choice per organisation, under its identity
        ((record_of(r).body["name"], _identity(keys, r)) for r in orgs if r.wire),
        key=lambda pair: pair[0].casefold(),
    )
    by_identity = await shaping.names(store, (_identity(keys, o) for o in opportunities), keys)
    org_names = {
        o.author: by_identity[_identity(keys, o)]
        for o in opportunities
        if _identity(keys, o) in by_identity
    }
    params = {k: v for k, v in form.items() if v and not (k == "status" and v == "open")}
    first_url = "/?" + urllib.parse.urlencode(params) if params else "/"  # same filters
    next_url = None
    if more:
        last = rows[-1]
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
            "first_url": first_url if "before" in request.query else None,
        },
    )


def _identity(keys: KeyHistories, item: Row | Record) -> bytes:
    """The identity a listed record belongs to (its key, when attributed to nobody)."""
    return keys.identity_at(item.author, item.created) or item.author


@routes.get("/orgs/{did}")
@page
async def org(request: web.Request) -> web.Response:
    node = request.app[NODE]
    store = node.store
    keys = await node.key_histories.histories()
    key = parse_did(request.match_info["did"])
    reads = await identities.reads_of(node, key)  # an identity with key events
    if reads is not None:
        row = reads.profile(kinds.ORG_PROFILE)
        opps = reads.opportunities()[: SHOWN + 1]
        items = reads.party_alliances("org")
        counts = reads.counts()
    else:
        row = await store.current_of(kinds.ORG_PROFILE, key)
        opps = await store.list_opportunities(queries.OpportunityFilter(org=key), None, SHOWN + 1)
        items = await store.party_alliances("org", key)
        counts = await store.counts_by_kind(key)
    if row is None or row.wire is None:
        raise PageError(404, "org.unknown")
    cap = _cap(request)
    shown_rep = await _shown_reputation(node, reads, key, cap)
    profile = record_of(row)
    domain = profile.body.get("domain")
    proof = None
    if isinstance(domain, str):
        proof = await node.domains.status(domain, key if reads is None else reads.identity)
    in_force, alumni = shaping.by_relation(items, True), shaping.by_relation(items, False)
    shown = [a for group in (*in_force.values(), *alumni.values()) for a in group[:cap]]
    return render(
        request,
        "org.html",
        {
            "did": request.match_info["did"],
            "profile": profile,
            "domain": proof,
            "opportunities": [record_of(r) for r in opps[:SHOWN] if r.wire],
            "more_opportunities": len(opps) > SHOWN,
            "in_force": in_force,
            "alumni": alumni,
            "cap": cap,
            "people": await shaping.names(store, (a.member for a in shown), keys),
            "counts": counts,
            "keys": None if reads is None else reads.history_json(),
            **await _reputation_context(store, shown_rep, keys),
        },
    )


@routes.get("/members/{did}")
@page
async def member(request: web.Request) -> web.Response:
    node = request.app[NODE]
    store = node.store
    keys = await node.key_histories.histories()
    key = parse_did(request.match_info["did"])
    reads = await identities.reads_of(node, key)  # an identity with key events
    if reads is not None:
        row = reads.profile(kinds.MEMBER_PROFILE)
        items = reads.party_alliances("member")
    else:
        row = await store.current_of(kinds.MEMBER_PROFILE, key)
        items = await store.party_alliances("member", key)
    cap = _cap(request)
    shown_rep = await _shown_reputation(node, reads, key, cap)
    return render(
        request,
        "member.html",
        {
            "did": request.match_info["did"],
            "profile": record_of(row) if row is not None and row.wire else None,
            "alliances": items[:cap],
            "more_alliances": len(items) - len(items[:cap]),
            "alumni_of": sorted({a.org for a in items if not a.in_force and a.alumni}),
            "org_names": await shaping.names(store, (a.org for a in items), keys),
            # this node issues W3C credentials for its own organisation's attestations (by
            # identity: whichever of its keys signed them)
            "own_org": node.keys.org.public_key.raw if reads is None else node.org_identity,
            "keys": None if reads is None else reads.history_json(),
            **await _reputation_context(store, shown_rep, keys),
        },
    )


def _cap(request: web.Request) -> int:
    """How many items each list shows: ``SHOWN``, or (``?all=1``) up to the store's bound."""
    return 100_000 if request.query.get("all") else SHOWN


@dataclass(frozen=True)
class ShownReputation:
    """What a page shows of a key's reputation: the grounded summary, the newest grounded
    and ungrounded attestations (at most ``cap`` each), and how many more there are."""

    summary: list[ClaimSummary]
    grounded: list[AttestationEntry]
    ungrounded: list[AttestationEntry]
    hidden: int


async def _shown_reputation(
    node: Node, reads: identities.IdentityReads | None, key: bytes, cap: int
) -> ShownReputation:
    """An identity's from its views; a key's from the stored summary, reading only the
    attestations shown (how many more there are is counted on the index)."""
    if reads is not None:
        rep = reads.reputation()
        grounded = [e for e in reversed(rep.attestations) if e.state == GROUNDED]
        apart = [e for e in reversed(rep.ungrounded) if e.state == UNGROUNDED]
        hidden = max(0, len(grounded) - cap) + max(0, len(apart) - cap)
        return ShownReputation(_ordered(rep.summary), grounded[:cap], apart[:cap], hidden)
    store, now = node.store, node.clock.now_ms()
    grounded = await store.newest_attestations(key, now, True, cap)
    apart = await store.newest_attestations(key, now, False, cap)
    hidden = 0
    for flag, shown in ((True, grounded), (False, apart)):
        if len(shown) == cap:
            hidden += await store.attestations_counted(key, now, flag) - cap
    summary = await store.reputation_summary(key, now)
    return ShownReputation(_ordered(summary), grounded, apart, hidden)


def _ordered(summary: dict[SummaryKey, ClaimSummary]) -> list[ClaimSummary]:
    return [summary[k] for k in sorted(summary, key=lambda k: (k[0], k[1] or ""))]


async def _reputation_context(
    store: RecordStore, shown: ShownReputation, keys: KeyHistories
) -> dict[str, Any]:
    """Grounded attestations (newest first, each with its subject's reply beside it) and
    ungrounded ones apart, with the issuers' names."""
    issuers = {e.issuer for e in shown.grounded + shown.ungrounded}
    return {
        "summary": shown.summary,
        "grounded": shown.grounded,
        "ungrounded": shown.ungrounded,
        "hidden": shown.hidden,
        "issuer_names": await shaping.names(store, issuers, keys),
    }
