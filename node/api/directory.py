"""Developers' views: the node's identity, current opportunities, organisations, alumni."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crypto import did_from_raw
from node import __version__
from node.api import identities, params, stakeholders
from node.api.keys import NODE
from node.api.problems import ApiError
from node.api.records import MAX_BATCH, row_json
from node.service import Node
from node.storage import queries
from protocol import MAX_RECORD_BYTES, kinds

routes = web.RouteTableDef()


PROTOCOL_REVISION = 2
FEATURES = ("stream", "json-post", "cors", "etag", "ratelimit-headers")


def node_identity(node: Node) -> dict[str, Any]:
    """Who this node is: its organisation (identity and current key), its node key, its URL."""
    return {
        "protocol": 1,
        "software": "rakuichi",
        "version": __version__,
        "name": node.config.name,
        "org": did_from_raw(node.org_identity),
        "key": did_from_raw(node.keys.org.public_key.raw),
        "node": did_from_raw(node.keys.node.public_key.raw),
        "url": node.config.public_url,
        "max_body_bytes": node.config.max_body_bytes,
    }


@routes.get("/.well-known/rakuichi")
async def well_known(request: web.Request) -> web.Response:
    """Who this node is, and (like NIP-11) its limits and the API features it offers."""
    node = request.app[NODE]
    identity = node_identity(node)
    config = node.config
    identity["limits"] = {
        "record_bytes": MAX_RECORD_BYTES,
        "body_bytes": config.max_body_bytes,
        "batch_records": MAX_BATCH,
        "page_records": queries.MAX_LIMIT,
        "post_rate": {"per_second": config.rate_limit, "burst": config.rate_burst},
        "search_rate": {"per_second": config.search_rate_limit, "burst": config.search_rate_burst},
        "stream_buffer_bytes": config.stream_buffer_bytes,
        "stream_heartbeat_seconds": config.stream_heartbeat,
    }
    identity["features"] = {"api": list(FEATURES), "protocol_revision": PROTOCOL_REVISION}
    return web.json_response(identity)


def _opportunity_filter(request: web.Request) -> queries.OpportunityFilter:
    return queries.OpportunityFilter(
        q=request.query.get("q"),
        skill=request.query.get("skill"),
        tour=params.choice(request, "tour", kinds.TOURS),
        remote=params.boolean(request, "remote"),
        org=params.did(request, "org"),
        status=params.choice(request, "status", kinds.OPPORTUNITY_STATUSES),
        audience=params.choice(request, "audience", kinds.AUDIENCES),
    )


@routes.get("/v1/opportunities")
async def opportunities(request: web.Request) -> web.Response:
    where = _opportunity_filter(request)
    cursor = params.decode_cursor(request, 2)
    before = None
    if cursor:
        try:
            before = (int(cursor[0]), bytes.fromhex(cursor[1]))
        except ValueError:
            raise params.bad_request("cursor is not one this node issued") from None
    limit = params.limit(request)
    node = request.app[NODE]
    where = await identities.opportunities_by_identity(node, where)
    rows = await node.store.list_opportunities(where, before, limit)
    following = params.encode_cursor(rows[-1].created, rows[-1].id) if len(rows) == limit else None
    shown = await identities.shown_by_identity(node, rows)
    return web.json_response({"opportunities": [row_json(r) for r in shown], "next": following})


async def _org_summary(request: web.Request, row: queries.Row) -> dict[str, Any]:
    store = request.app[NODE].store
    view = row_json(row)
    return {
        "org": did_from_raw(row.author),
        "profile": view,
        "counts": await store.counts_by_kind(row.author),
    }


@routes.get("/v1/orgs")
async def orgs(request: web.Request) -> web.Response:
    # The cursor is the last author's key in hex: a did:key would hold the ':' that
    # separates cursor parts, so no cursor this route issued could be read back.
    cursor = params.decode_cursor(request, 1)
    after = None
    if cursor:
        try:
            after = bytes.fromhex(cursor[0])
        except ValueError:
            raise params.bad_request("cursor is not one this node issued") from None
    limit = params.limit(request)
    rows = await request.app[NODE].store.list_org_profiles(after, limit)
    following = params.encode_cursor(rows[-1].author) if len(rows) == limit else None
    node = request.app[NODE]
    keys = await node.key_histories.histories()
    listed = []
    for row in await identities.shown_by_identity(node, rows):
        identity = keys.identity_at(row.author, row.created)
        reads = None
        if identity is not None and identity in keys.histories:
            reads = await identities.reads_of(node, identity)
        summary = await _org_summary(request, row)
        if reads is not None:  # listed once, under its identity, by its current profile
            summary["org"] = did_from_raw(reads.identity)
            summary["counts"] = reads.counts()
        listed.append(summary)
    return web.json_response({"orgs": listed, "next": following})


@routes.get("/v1/orgs/{did}")
async def org(request: web.Request) -> web.Response:
    author = params.did_text(request.match_info["did"], "did")
    identity = await identities.established(request.app[NODE], author)
    if identity is not None:
        document = identities.org_document(
            await identities.views_of(request.app[NODE], identity), identity
        )
        if document is None:
            raise ApiError(404, "not-found", "this organisation has no profile here", "unknown")
        return web.json_response(await _with_domain(request, document, identity))
    store = request.app[NODE].store
    row = await store.current_of(kinds.ORG_PROFILE, author)
    if row is None:
        raise ApiError(
            404,
            "not-found",
            f"no org.profile by {request.match_info['did']} here",
            "unknown organisation",
        )
    summary = await _org_summary(request, row)
    opps = await store.list_opportunities(
        queries.OpportunityFilter(org=author), None, queries.MAX_LIMIT
    )
    summary["opportunities"] = [row_json(r) for r in opps]
    summary["alliances_by_relation"] = await stakeholders.by_relation(store, author)
    return web.json_response(await _with_domain(request, summary, author))


async def _with_domain(
    request: web.Request, document: dict[str, Any], org: bytes
) -> dict[str, Any]:
    """Add ``domain``: the profile's domain and whether this node saw ``org`` proved by it."""
    profile = document.get("profile")
    body = profile.get("body") if isinstance(profile, dict) else None
    domain = body.get("domain") if isinstance(body, dict) else None
    if isinstance(domain, str):
        status = await request.app[NODE].domains.status(domain, org)
        document["domain"] = status.json()
    return document


@routes.get("/v1/orgs/{did}/alumni")
async def alumni(request: web.Request) -> web.Response:
    author = params.did_text(request.match_info["did"], "did")
    identity = await identities.established(request.app[NODE], author)
    if identity is not None:
        views = await identities.views_of(request.app[NODE], identity)
        return web.json_response(identities.alumni_document(views, identity))
    rows = await request.app[NODE].store.alumni_of(author)
    return web.json_response(
        {
            "org": request.match_info["did"],
            "alumni": [
                {"member": did_from_raw(member), "alliance": aid.hex(), "end": end.hex()}
                for member, aid, end in rows
            ],
        }
    )
