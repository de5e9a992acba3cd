"""Private records served to their two parties alone (requests signed with a party's key).

To anyone else a private record does not exist: 404 by id, absent from every listing. See
node/storage/private.py for what makes a record private.
"""

from __future__ import annotations

from aiohttp import web

from crypto import did_from_raw
from node.api import params
from node.api.keys import NODE, PEER
from node.api.openapi import PROBLEM, add_operations, typed
from node.api.problems import ApiError
from node.storage.private import PrivateRow
from protocol import Record, kinds, parse, to_json

MSGPACK = "application/msgpack"
routes = web.RouteTableDef()


def requester(request: web.Request) -> bytes | None:
    """The raw key that signed this request (RFC 9421), if it was signed."""
    return request.get(PEER)


async def private_for_requester(request: web.Request, record_id: bytes) -> PrivateRow | None:
    """The private record ``record_id`` when the request is signed by one of its parties."""
    row = await request.app[NODE].store.get_private(record_id)
    if row is None or not row.shown_to(requester(request)):
        return None
    return row


async def private_record_response(request: web.Request, record_id: bytes) -> web.Response | None:
    """``GET /v1/records/{id}`` for a private record, to a party; None for anyone else."""
    row = await private_for_requester(request, record_id)
    if row is None:
        return None
    if row.wire is None:
        raise ApiError(
            410,
            "retracted",
            f"record {record_id.hex()} was retracted by its author",
            "retracted record",
        )
    if MSGPACK in request.headers.get("Accept", ""):
        return web.Response(body=row.wire, content_type=MSGPACK)
    return web.json_response({**to_json(parse(row.wire)), "private": True})


def about_subject(records: list[Record], subject: bytes) -> list[Record]:
    """The private records that belong in a bundle about ``subject``: its alliances, their ends,
    the attestations about ``subject`` and the retracts among them."""
    return [r for r in records if r.kind != kinds.ATTESTATION or r.body["subject"] == subject]


@routes.get("/v1/private/{did}")
async def list_private(request: web.Request) -> web.Response:
    """Every private record ``did`` is a party of, to ``did`` alone."""
    key = params.did_text(request.match_info["did"], "did")
    signer = requester(request)
    if signer is None:
        raise ApiError(
            401,
            "signature",
            "sign this request with the party's key (RFC 9421): private records are served "
            "to their two parties alone",
            "signature required",
        )
    if signer != key:
        raise ApiError(
            403,
            "policy",
            f"signed by {did_from_raw(signer)}: only {did_from_raw(key)} lists its private records",
            "forbidden",
        )
    wires = await request.app[NODE].store.private_of(key)
    return web.json_response(
        {"records": [{**to_json(parse(w)), "wire": w.hex(), "private": True} for w in wires]}
    )


add_operations(
    {
        "/v1/private/{did}": {
            "get": {
                "summary": "the private records (private alliances, their ends, attestations "
                "grounded in them) DID is a party of; signed (RFC 9421) with DID's key",
                "parameters": [
                    {"name": "did", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": typed("the private records, with their wire bytes", "PrivateRecords"),
                    "400": PROBLEM,
                    "401": PROBLEM,
                    "403": PROBLEM,
                },
            }
        }
    }
)
