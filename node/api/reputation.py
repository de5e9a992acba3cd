"""Reputation: what this node holds about a key, portable bundles, and checking a bundle."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from node.api import identities, params
from node.api.bundlecheck import check_bundle
from node.api.keys import NODE
from node.api.openapi import PROBLEM, add_operations, typed
from node.api.private import about_subject, requester
from node.api.problems import ApiError
from protocol import CLAIMS, GROUNDED, UNGROUNDED, Record, kinds, parse, write_bundle

routes = web.RouteTableDef()
MAX_BUNDLE_BYTES = 32 * 1024 * 1024  # bundles uploaded to the web board (node/web)


@routes.get("/v1/reputation/{did}")
async def get_reputation(request: web.Request) -> web.Response:
    subject = params.did_text(request.match_info["did"], "did")
    node = request.app[NODE]
    limit = params.limit(request)
    cursor = params.decode_cursor(request, 1)
    try:
        offset = int(cursor[0]) if cursor else 0
    except ValueError:
        raise params.bad_request("cursor is not one this node issued") from None
    identity = await identities.established(node, subject)
    if identity is not None:
        views = await identities.views_of(node, identity)
        document = identities.reputation_document(views, identity)
    else:
        document = (await node.store.reputation_of(subject, node.clock.now_ms())).to_json()
    return web.json_response(page_lists(document, offset, limit))


PAGED_LISTS = ("attestations", "ungrounded")


def page_lists(document: dict[str, Any], offset: int, limit: int) -> dict[str, Any]:
    """One page of the attestation lists (the same ``offset`` and ``limit`` for each); the
    summary stays whole. ``next`` is the cursor of the following page, or null."""
    more = False
    for name in PAGED_LISTS:
        items = document.get(name)
        if isinstance(items, list):
            document[name] = items[offset : offset + limit]
            more = more or len(items) > offset + limit
    document["next"] = params.encode_cursor(offset + limit) if more else None
    return document


@routes.get("/v1/reputation/{did}/bundle")
async def get_bundle(request: web.Request) -> web.Response:
    """A bundle of the chosen live attestations (grounded or not) and what checks them."""
    subject = params.did_text(request.match_info["did"], "did")
    identity = await identities.established(request.app[NODE], subject)
    if identity is not None:
        views = await identities.views_of(request.app[NODE], identity)
        wanted = identities.bundle_filter(request, views.keys)
        body = identities.bundle_of(views, identity, wanted)
        return web.Response(body=body, content_type="application/json")
    claims = set(request.query.getall("claim", []))
    if claims - set(CLAIMS):
        raise params.bad_request(f"claim must be among {', '.join(CLAIMS)}")
    issuers = {params.did_text(i, "issuer") for i in request.query.getall("issuer", [])}
    skills = set(request.query.getall("skill", []))
    node = request.app[NODE]
    live, _ = await node.store.attestations_about(subject, node.clock.now_ms())
    chosen = [
        s.record
        for s in live.values()
        if s.state in (GROUNDED, UNGROUNDED)
        and (not claims or s.record.body["claim"] in claims)
        and (not issuers or s.record.author in issuers)
        and (not skills or s.record.body.get("skill") in skills)
    ]
    extra: list[Record] = []
    if requester(request) == subject:  # the member asks: their private records come too
        mine = about_subject([parse(w) for w in await node.store.private_of(subject)], subject)
        shown = [
            r
            for r in mine
            if r.kind != kinds.ATTESTATION
            or (
                (not claims or r.body["claim"] in claims)
                and (not issuers or r.author in issuers)
                and (not skills or r.body.get("skill") in skills)
            )
        ]
        chosen += [r for r in shown if r.kind == kinds.ATTESTATION]
        extra = [r for r in shown if r.kind != kinds.ATTESTATION]
    records = await node.store.bundle_records(subject, chosen)
    return web.Response(
        body=write_bundle(subject, [*records, *extra]), content_type="application/json"
    )


@routes.post("/v1/reputation/verify")
async def post_verify(request: web.Request) -> web.Response:
    body = await request.read()  # capped at bundle_max_bytes while it arrived (api/bodies.py)
    node = request.app[NODE]
    result = await node.verifier.run(
        check_bundle, body, node.clock.now_ms(), node.config.limits.bundle_max_records
    )
    if isinstance(result, str):
        raise ApiError(400, "bundle", result, "not a bundle")
    return web.json_response(result)


_DID = [{"name": "did", "in": "path", "required": True, "schema": {"type": "string"}}]
add_operations(
    {
        "/v1/reputation/{did}": {
            "get": {
                "summary": "attestations about a key with their state (paged: limit, cursor),"
                " and the grounded summary (whole)",
                "parameters": [
                    *_DID,
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": typed("a page of attestations and the whole summary", "ReputationPage"),
                    "400": PROBLEM,
                },
            }
        },
        "/v1/reputation/{did}/bundle": {
            "get": {
                "summary": "a portable bundle of chosen attestations and what checks them offline",
                "parameters": [
                    *_DID,
                    {"name": "claim", "in": "query", "schema": {"type": "string"}},
                    {"name": "issuer", "in": "query", "schema": {"type": "string"}},
                    {"name": "skill", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": typed("the bundle (JSON; rakuichi verify checks it offline)", "Bundle"),
                    "400": PROBLEM,
                },
            }
        },
        "/v1/reputation/verify": {
            "post": {
                "summary": "check a bundle (as `rakuichi verify` does offline)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Bundle"}}
                    },
                },
                "responses": {
                    "200": typed("what the check found", "BundleReport"),
                    "400": PROBLEM,
                    "413": PROBLEM,
                },
            }
        },
    }
)
