"""Routes between nodes: reconciliation rounds, fetching records by id, the peer table."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from aiohttp import web

from crypto import did_from_raw
from node.api.client_address import client_address
from node.api.keys import NODE, PEER, PEER_TABLE, SYNC_INDEX, PeerTable
from node.api.openapi import PROBLEM, add_operations, typed
from node.api.problems import ApiError
from node.api.records import MSGPACK
from node.federation.budget import OverBudget
from node.federation.syncindex import IndexLoading
from node.storage.interface import PEERS_STATUS, SharedStatus
from protocol import Rejected

MAX_FETCH = 1024
routes = web.RouteTableDef()


def _require_allowed_peer(request: web.Request) -> None:
    """Under ``allow_only`` the node-to-node routes answer only signed requests from a listed
    peer: the gate (node/api/gate.py) refused other signers with 403 already, so refuse the
    unsigned here."""
    if request.app[NODE].config.federation.allow_only and PEER not in request:
        raise ApiError(
            401,
            "signature",
            "this node only answers signed requests from the peers its operator listed "
            "(allow-only mode); sign the request with your node key (docs/protocol.md §10)",
            "signature required",
        )


def _charge_session(request: web.Request, rounds: int = 0, ids: int = 0) -> bytes | str:
    """One full anti-entropy session per peer (node key, else client address) per interval:
    past it 429 with Retry-After (``node/federation/budget.py``). Returns who was charged."""
    node = request.app[NODE]
    who = request[PEER] if PEER in request else f"address {client_address(request)}"
    interval = node.config.federation.anti_entropy_interval
    try:
        node.peers.sessions.charge(who, node.clock.monotonic(), interval, rounds, ids)
    except OverBudget as exc:
        raise ApiError(
            429, "rate-limited", str(exc), "too many sync requests", exc.retry_after
        ) from None
    return who


def _msgpack_body(request: web.Request) -> None:
    if request.content_type != MSGPACK:
        raise ApiError(415, "unsupported-media-type", f"send {MSGPACK}")


@routes.post("/v1/sync")
async def sync(request: web.Request) -> web.Response:
    _require_allowed_peer(request)
    _msgpack_body(request)
    index = request.app[SYNC_INDEX]
    if index is None:
        raise ApiError(503, "unavailable", "federation is not running on this node")
    charged = _charge_session(request, rounds=1)
    body = await request.read()
    try:
        reply = index.answer(body)
    except IndexLoading as exc:
        request.app[NODE].peers.sessions.refund(charged, rounds=1)
        raise ApiError(503, "unavailable", str(exc)) from None
    except Rejected as exc:  # ReconcileError, or the message's own size/encoding
        request.app[NODE].peers.sessions.refund(charged, rounds=1)  # refused before any work
        status = 413 if exc.klass == "size" else 422
        raise ApiError(status, exc.klass, exc.detail, "bad sync message") from None
    return web.Response(body=reply, content_type=MSGPACK)


@routes.post("/v1/records/fetch")
async def fetch(request: web.Request) -> web.Response:
    _require_allowed_peer(request)
    _msgpack_body(request)
    body = await request.read()
    try:
        ids = msgpack.unpackb(
            body,
            max_array_len=MAX_FETCH,
            max_bin_len=32,
            max_str_len=0,
            max_map_len=0,
            max_ext_len=0,
        )
    except (ValueError, msgpack.UnpackException) as exc:
        raise ApiError(400, "encoding", f"expected an array of 32-byte ids: {exc}") from None
    if not isinstance(ids, list) or not all(isinstance(i, bytes) and len(i) == 32 for i in ids):
        raise ApiError(400, "encoding", "expected an array of 32-byte ids")
    _charge_session(request, ids=len(ids))
    wires = await request.app[NODE].store.live_wires(ids)
    return web.Response(body=msgpack.packb(wires, use_bin_type=True), content_type=MSGPACK)


async def peer_table_json(fed: PeerTable) -> list[dict[str, Any]]:
    """The federation's peer table as ``/v1/peers`` shows it (keys as did:key)."""
    table = await fed.peer_table()
    for row in table:
        for name in ("node", "org"):
            row[name] = did_from_raw(row[name]) if row[name] is not None else None
    return table


@routes.get("/v1/peers")
async def peers(request: web.Request) -> web.Response:
    fed = request.app[PEER_TABLE]
    if fed is not None:
        return web.json_response({"peers": await peer_table_json(fed)})
    # a worker that does not lead the federation shows the leader's table (PostgreSQL)
    store = request.app[NODE].store
    shared = await store.read_status(PEERS_STATUS) if isinstance(store, SharedStatus) else None
    table = json.loads(shared[0]) if shared is not None else []
    return web.json_response({"peers": table})


add_operations(
    {
        "/v1/sync": {
            "post": {
                "summary": "one round of set reconciliation (docs/sync.md); msgpack in and out",
                "requestBody": {
                    "required": True,
                    "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "200": {
                        "description": "the reply message",
                        "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "415": PROBLEM,
                    "422": PROBLEM,
                    "503": PROBLEM,
                },
            }
        },
        "/v1/records/fetch": {
            "post": {
                "summary": "wire bytes of the records held among a msgpack array of ids (≤ 1024)",
                "requestBody": {
                    "required": True,
                    "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "200": {
                        "description": "msgpack array of bin, unknown ids left out",
                        "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "400": PROBLEM,
                    "415": PROBLEM,
                },
            }
        },
        "/v1/peers": {
            "get": {
                "summary": "known peers with state (last success, last error, backlog, backoff)",
                "responses": {"200": typed("peer table", "PeerTable")},
            }
        },
    }
)
