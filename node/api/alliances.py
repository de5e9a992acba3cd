"""Alliance drafts (kept here for the member to co-sign, never federated) and members."""

from __future__ import annotations

from aiohttp import web

from crypto import did_from_raw
from node.api import identities, params, stakeholders
from node.api.keys import NODE, PEER
from node.api.openapi import PROBLEM, add_operations, typed
from node.api.problems import ApiError
from node.api.records import MSGPACK, row_json
from protocol import Draft, Rejected, check_time, kinds, to_json

routes = web.RouteTableDef()


def _draft_json(draft: Draft, base_url: str) -> dict[str, object]:
    return {
        "id": draft.id.hex(),
        "url": f"{base_url}/v1/drafts/{draft.id.hex()}",
        "draft": to_json(draft.to_record()),
        "missing": [did_from_raw(k) for k in sorted(draft.missing_signers)],
    }


@routes.post("/v1/drafts")
async def post_draft(request: web.Request) -> web.Response:
    """Keep an alliance signed by this node's organisation until the member co-signs it."""
    if request.content_type != MSGPACK:
        raise ApiError(415, "unsupported-media-type", f"drafts are posted as {MSGPACK}")
    node = request.app[NODE]
    body = await request.read()
    try:
        draft = Draft.from_wire(body)
        check_time(draft.to_record(), node.clock.now_ms())
    except Rejected as exc:
        raise ApiError(422, exc.klass, exc.detail, "draft refused") from None
    org = node.keys.org.public_key.raw
    if draft.kind != kinds.ALLIANCE:
        raise ApiError(422, "schema", "only alliances are drafted here", "draft refused")
    if draft.author != org or org in draft.missing_signers:
        raise ApiError(
            403,
            "policy",
            "a draft here must be an alliance authored and signed by this node's organisation",
            "draft refused",
        )
    private = request.query.get("private", "") in ("1", "true", "yes")
    if private:  # marked before the draft is kept: its alliance is never public here
        await node.store.mark_draft_private(draft.id)
    await node.store.put_draft(draft.id, draft.body["member"], draft.wire, node.clock.now_ms())
    answer = _draft_json(draft, node.config.public_url)
    answer["private"] = await node.store.is_draft_private(draft.id)
    return web.json_response(answer, status=201)


@routes.get("/v1/drafts/{id}")
async def get_draft(request: web.Request) -> web.Response:
    draft_id = params.record_id(request.match_info["id"])
    node = request.app[NODE]
    wire = await node.store.get_draft(draft_id)
    if wire is None:
        raise ApiError(404, "not-found", f"no draft {draft_id.hex()} here", "unknown draft")
    if MSGPACK in request.headers.get("Accept", ""):
        return web.Response(body=wire, content_type=MSGPACK)
    draft = Draft.from_wire(wire)
    answer = _draft_json(draft, node.config.public_url)
    answer["private"] = await node.store.is_draft_private(draft_id)
    held = await node.store.get_record(draft_id) or await node.store.get_private(draft_id)
    answer["signed"] = held is not None
    return web.json_response(answer)


@routes.get("/v1/members/{did}/drafts")
async def member_drafts(request: web.Request) -> web.Response:
    """The drafts waiting for a member's signature, to that member alone: the request must be
    signed (RFC 9421, as between nodes) with the member's own key."""
    key = params.did_text(request.match_info["did"], "did")
    signer = request.get(PEER)
    if signer is None:
        raise ApiError(
            401,
            "signature",
            "sign this request with the member's key (RFC 9421): only the member lists their "
            "drafts",
            "signature required",
        )
    if signer != key:
        raise ApiError(
            403,
            "policy",
            f"signed by {did_from_raw(signer)}: only the member lists their drafts",
            "forbidden",
        )
    node = request.app[NODE]
    wires = await node.store.drafts_for(key)
    return web.json_response(
        {"drafts": [_draft_json(Draft.from_wire(w), node.config.public_url) for w in wires]}
    )


@routes.get("/v1/members/{did}")
async def member(request: web.Request) -> web.Response:
    key = params.did_text(request.match_info["did"], "did")
    identity = await identities.established(request.app[NODE], key)
    if identity is not None:
        views = await identities.views_of(request.app[NODE], identity)
        return web.json_response(identities.member_document(views, identity))
    store = request.app[NODE].store
    profile = await store.current_of(kinds.MEMBER_PROFILE, key)
    alliances = await store.member_alliances(key)
    return web.json_response(
        {
            "member": request.match_info["did"],
            "profile": row_json(profile) if profile else None,
            "alliances": [
                {
                    "id": a["id"].hex(),
                    "org": did_from_raw(a["org"]),
                    "alumni": a["alumni"],
                    "in_force": a["end"] is None,
                    "end": a["end"].hex() if a["end"] else None,
                    "outcome": a["outcome"],
                    "relation": a["relation"],
                }
                for a in alliances
            ],
            "alliances_by_relation": await stakeholders.by_relation(store, key),
            "alumni_of": sorted(
                {did_from_raw(a["org"]) for a in alliances if a["end"] is not None and a["alumni"]}
            ),
        }
    )


_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_DID = [{"name": "did", "in": "path", "required": True, "schema": {"type": "string"}}]
DRAFT = typed("the draft: JSON, or its wire bytes (Accept: application/msgpack)", "Draft")
DRAFT["content"][MSGPACK] = {"schema": {"type": "string", "format": "binary"}}
add_operations(
    {
        "/v1/drafts": {
            "post": {
                "summary": "keep an alliance signed by this organisation for the member to sign",
                "requestBody": {
                    "required": True,
                    "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "201": typed("the draft kept", "Draft"),
                    "403": PROBLEM,
                    "415": PROBLEM,
                    "422": PROBLEM,
                },
            }
        },
        "/v1/drafts/{id}": {
            "get": {
                "summary": "a draft: JSON with the signatures still missing, or its wire bytes",
                "parameters": _ID,
                "responses": {"200": DRAFT, "400": PROBLEM, "404": PROBLEM},
            }
        },
        "/v1/members/{did}/drafts": {
            "get": {
                "summary": "the alliance drafts waiting for this member's signature; the "
                "request must be signed (RFC 9421) with the member's key",
                "parameters": _DID,
                "responses": {
                    "200": typed("the drafts", "DraftList"),
                    "400": PROBLEM,
                    "401": PROBLEM,
                    "403": PROBLEM,
                },
            }
        },
        "/v1/members/{did}": {
            "get": {
                "summary": "a member: profile, alliances (in force or ended), alumni of",
                "parameters": _DID,
                "responses": {"200": typed("the member", "Member"), "400": PROBLEM},
            }
        },
    }
)
