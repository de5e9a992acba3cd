"""Reputation: what this node holds about a key, portable bundles, and checking a bundle."""

from __future__ import annotations

from aiohttp import web

from node.api import identities, params
from node.api.keys import NODE
from node.api.openapi import PROBLEM, add_operations
from node.api.problems import ApiError
from protocol import CLAIMS, GROUNDED, UNGROUNDED, BundleError, verify_bundle, write_bundle

routes = web.RouteTableDef()
MAX_BUNDLE_BYTES = 32 * 1024 * 1024


@routes.get("/v1/reputation/{did}")
async def get_reputation(request: web.Request) -> web.Response:
    subject = params.did_text(request.match_info["did"], "did")
    node = request.app[NODE]
    identity = await identities.established(node, subject)
    if identity is not None:
        views = await identities.views_of(node, identity)
        return web.json_response(identities.reputation_document(views, identity))
    result = await node.store.reputation_of(subject, node.clock.now_ms())
    return web.json_response(result.to_json())


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
    records = await node.store.bundle_records(subject, chosen)
    return web.Response(body=write_bundle(subject, records), content_type="application/json")


@routes.post("/v1/reputation/verify")
async def post_verify(request: web.Request) -> web.Response:
    body = await request.read()
    if len(body) > MAX_BUNDLE_BYTES:
        raise ApiError(413, "size", f"bundle over {MAX_BUNDLE_BYTES} bytes")
    try:
        report = verify_bundle(body, request.app[NODE].clock.now_ms())
    except BundleError as exc:
        raise ApiError(400, "bundle", str(exc), "not a bundle") from None
    return web.json_response(report.to_json())


_DID = [{"name": "did", "in": "path", "required": True, "schema": {"type": "string"}}]
_JSON = {"description": "JSON", "content": {"application/json": {"schema": {"type": "object"}}}}
add_operations(
    {
        "/v1/reputation/{did}": {
            "get": {
                "summary": "attestations about a key with their state, and the grounded summary",
                "parameters": _DID,
                "responses": {"200": _JSON, "400": PROBLEM},
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
                "responses": {"200": _JSON, "400": PROBLEM},
            }
        },
        "/v1/reputation/verify": {
            "post": {
                "summary": "check a bundle (as `rakuichi verify` does offline)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {"200": _JSON, "400": PROBLEM, "413": PROBLEM},
            }
        },
    }
)
