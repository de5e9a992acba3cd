"""W3C Verifiable Credentials for the attestations this node's organisation authored, and the
Rakuichi JSON-LD context document they name."""

from __future__ import annotations

from aiohttp import web

from crypto import did_from_raw
from node.api import params
from node.api.keys import NODE
from node.api.openapi import PROBLEM, add_operations, typed
from node.api.private import private_for_requester
from node.api.problems import ApiError
from protocol import (
    CONTEXT_PATH,
    NotIssuable,
    Record,
    context_document,
    context_url,
    issue_credential,
    kinds,
    parse,
)

CREDENTIAL_TYPE = "application/vc+ld+json"
LD_JSON = "application/ld+json"
routes = web.RouteTableDef()


@routes.get("/v1/records/{id}/credential")
async def credential(request: web.Request) -> web.Response:
    rid = params.record_id(request.match_info["id"])
    node = request.app[NODE]
    row = await node.store.get_record(rid)
    private = None if row is not None else await private_for_requester(request, rid)
    if row is None and private is None:
        raise ApiError(404, "not-found", f"no record {rid.hex()} here", "unknown record")
    wire = row.wire if row is not None else private.wire if private is not None else None
    if wire is None:
        raise ApiError(
            410, "retracted", f"record {rid.hex()} was retracted by its author", "retracted record"
        )
    record = parse(wire)
    org = node.keys.org
    events, keys = await node.key_histories.get()
    identity = keys.identity_at(record.author, record.created)
    if record.kind != kinds.ATTESTATION or identity != node.org_identity:
        raise ApiError(
            404,
            "not-issuer",
            f"this node issues credentials only for attestations authored by its organisation "
            f"{did_from_raw(node.org_identity)}; record {rid.hex()} is not one (ask its "
            "author's node)",
            "not issued here",
        )
    history = keys.history(identity)
    carried: list[Record] = []
    if history is not None and history.chain:  # issued by the identity, with its key history
        evidence = set(history.duplicity.evidence) if history.duplicity else set()
        carried = [e.record for e in history.chain]
        carried += [e for e in events if e.id in evidence]
    try:
        document = issue_credential(record, org, context_url(node.config.public_url), carried)
    except NotIssuable as exc:
        raise ApiError(409, "not-issuable", str(exc), "cannot be issued now") from None
    return web.json_response(document, content_type=CREDENTIAL_TYPE)


@routes.get(CONTEXT_PATH)
async def context(request: web.Request) -> web.Response:
    return web.json_response(
        context_document(),
        content_type=LD_JSON,
        headers={"Cache-Control": "public, max-age=86400"},
    )


add_operations(
    {
        "/v1/records/{id}/credential": {
            "get": {
                "summary": "a W3C VC 2.0 credential (eddsa-jcs-2022 proof) for an attestation "
                "this node's organisation authored",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": typed("the credential (JSON-LD)", "Credential", CREDENTIAL_TYPE),
                    "400": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "410": PROBLEM,
                },
            }
        },
        CONTEXT_PATH: {
            "get": {
                "summary": "the JSON-LD context of the Rakuichi terms in credentials",
                "responses": {"200": typed("the JSON-LD context", "JsonLdContext", LD_JSON)},
            }
        },
    }
)
