"""``/v1/records``: submitting records (msgpack, or their JSON view) and reading them (JSON or
exact wire bytes)."""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
from aiohttp import web

from crypto import did_from_raw
from node.api import identities, params
from node.api.caching import immutable_headers, not_modified
from node.api.client_address import client_address
from node.api.keys import NODE, PEER
from node.api.private import private_record_response
from node.api.problems import ApiError, refusal
from node.api.recordviews import RECORD_VIEWS
from node.storage import queries
from node.storage.interface import RecordStore
from protocol import (
    MAX_RECORD_BYTES,
    EncodingError,
    Record,
    SchemaError,
    SizeError,
    from_json,
    record_from_trusted,
    to_json,
)

MSGPACK = "application/msgpack"
JSON = "application/json"
MAX_BATCH = 5000
routes = web.RouteTableDef()


def stored_record(row: queries.Row) -> Record:
    """The record of a stored row. Its wire bytes passed validation on the way in, so they are
    only unpacked here (parsing again would redo the schema and key checks: most of the cost
    of a read); the id is the one stored beside them."""
    assert row.wire is not None
    return record_from_trusted(msgpack.unpackb(row.wire, raw=False), row.wire, row.id)


def row_json(row: queries.Row) -> dict[str, Any]:
    """The JSON view of a stored record, or its tombstone when retracted."""
    if row.wire is None:
        return {
            "id": row.id.hex(),
            "kind": row.kind,
            "author": did_from_raw(row.author),
            "created": row.created,
            "retracted": True,
        }
    return to_json(stored_record(row))


def split_batch(body: bytes) -> list[bytes] | None:
    """The records of a batch body (a msgpack array of bins), or None for a single record."""
    if not body or not (0x90 <= body[0] <= 0x9F or body[0] in (0xDC, 0xDD)):
        return None
    try:
        items = msgpack.unpackb(
            body,
            max_array_len=MAX_BATCH,
            max_bin_len=len(body),
            max_str_len=0,
            max_map_len=0,
            max_ext_len=0,
        )
    except (ValueError, msgpack.UnpackException) as exc:
        raise ApiError(400, "encoding", f"batch is not a msgpack array of bin: {exc}") from None
    if not all(isinstance(item, bytes) for item in items):
        raise ApiError(400, "encoding", "every element of a batch must be a msgpack bin")
    return items


def wires_from_json(body: bytes) -> list[bytes] | bytes:
    """The wire bytes of a JSON view (a single record) or of an array of views (a batch).

    The view maps back to exactly the bytes it was made from; those are then validated as
    any posted record, so a view that does not stand for a valid record is refused the same.
    """
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "encoding", f"body is not JSON: {exc}") from None
    if isinstance(parsed, list):
        if len(parsed) > MAX_BATCH:
            raise ApiError(400, "encoding", f"a batch holds at most {MAX_BATCH} records")
        views = parsed
    else:
        views = [parsed]
    wires = []
    for i, view in enumerate(views):
        if not isinstance(view, dict):
            raise refusal(SchemaError(f"record {i} is not a JSON object (a record view)"))
        try:
            wires.append(from_json(view).wire)
        except (SchemaError, EncodingError) as exc:
            raise refusal(SchemaError(f"record {i}: {exc.detail}")) from None
    return wires if isinstance(parsed, list) else wires[0]


async def _submit_one(request: web.Request, wire: bytes) -> web.Response:
    if len(wire) > MAX_RECORD_BYTES:
        raise refusal(SizeError(f"record is {len(wire)} bytes, over {MAX_RECORD_BYTES}"))
    if not wire:
        raise refusal(EncodingError("empty body"))
    (outcome,) = await request.app[NODE].ingestor.submit(
        [wire], request.get(PEER), client_address(request)
    )
    if outcome.refusal is not None:
        raise refusal(outcome.refusal)
    return web.json_response(outcome.to_json(), status=201 if outcome.stored else 200)


async def _submit_batch(request: web.Request, wires: list[bytes]) -> web.Response:
    outcomes = await request.app[NODE].ingestor.submit(
        wires, request.get(PEER), client_address(request)
    )
    response = web.json_response({"results": [o.to_json() for o in outcomes]})
    waits = [getattr(o.refusal, "retry_after", 0) for o in outcomes if o.refusal is not None]
    if any(waits):  # some records met a spent quota: when to send them again
        response.headers["Retry-After"] = str(math.ceil(max(waits)))
    return response


@routes.post("/v1/records")
async def post_records(request: web.Request) -> web.Response:
    body = await request.read()
    if request.content_type == JSON:
        wires = wires_from_json(body)
        if isinstance(wires, list):
            return await _submit_batch(request, wires)
        return await _submit_one(request, wires)
    if request.content_type != MSGPACK:
        raise ApiError(
            415,
            "unsupported-media-type",
            f"records are posted as {MSGPACK} or {JSON}, not {request.content_type or 'nothing'}",
        )
    batch = split_batch(body)
    if batch is None:
        return await _submit_one(request, body)
    return await _submit_batch(request, batch)


async def answer_by_id(store: RecordStore, rid: bytes) -> tuple[int, queries.Row | None]:
    """The status ``GET /v1/records/{id}`` answers, with the row when it is 200.

    The target of a held retract reads 410 whether this node ever held it or not (revision 2),
    so a record erased at its first node before it spread reads the same on every node.
    """
    row = await store.get_record(rid)
    if row is not None and row.wire is not None:
        return 200, row
    if row is not None or await store.retract_pending_on(rid):
        return 410, None
    return 404, None


@routes.get("/v1/records/{id}")
async def get_record(request: web.Request) -> web.Response:
    """One record by id: the stored wire bytes as they are (``Accept: application/msgpack``)
    or its JSON view, rendered once per id (``RecordViews``). One primary-key lookup per
    request says the record is live; everything else about a live id is immutable."""
    rid = params.record_id(request.match_info["id"])
    node = request.app[NODE]
    row = await node.store.get_record(rid)
    if row is None or row.wire is None:
        return await _not_live(request, node.store, rid, row)
    wants_wire = MSGPACK in request.headers.get("Accept", "")
    # content-addressed: the id names the bytes; the wire form gets its own tag (Vary: Accept)
    etag = f'"{rid.hex()}.msgpack"' if wants_wire else f'"{rid.hex()}"'
    if "If-None-Match" in request.headers:
        unchanged = not_modified(request, etag)
        if unchanged is not None:
            return unchanged
    if wants_wire:
        return web.Response(body=row.wire, content_type=MSGPACK, headers=immutable_headers(etag))
    views = request.app[RECORD_VIEWS]
    body = views.get(rid)
    if body is None:
        body = json.dumps(row_json(row)).encode()
        views.put(rid, body)
    return web.Response(body=body, content_type=JSON, headers=immutable_headers(etag))


async def _not_live(
    request: web.Request, store: RecordStore, rid: bytes, row: queries.Row | None
) -> web.Response:
    """404 (unknown here, unless a private record of the requester's) or 410 (retracted)."""
    if row is None and not await store.retract_pending_on(rid):
        answer = await private_record_response(request, rid)
        if answer is not None:
            return answer
        raise ApiError(404, "not-found", f"no record {rid.hex()} here", "unknown record")
    raise ApiError(
        410, "retracted", f"record {rid.hex()} was retracted by its author", "retracted record"
    )


@routes.get("/v1/records")
async def list_records(request: web.Request) -> web.Response:
    node = request.app[NODE]
    author, subject = params.did(request, "author"), params.did(request, "subject")
    # by identity (revision 3 proposal): what its keys signed inside their windows, and what
    # names any of its keys; a plain key filters by the key
    authored = None if author is None else await identities.scope_for(node, author)
    named = None if subject is None else await identities.scope_for(node, subject)
    where = queries.RecordFilter(
        kind=request.query.get("kind"),
        author=author if authored is None else None,
        subject=subject if named is None else None,
        since=params.integer(request, "since"),
        until=params.integer(request, "until"),
        author_windows=None if authored is None else authored.windows,
        subjects=None if named is None else named.names,
    )
    cursor = params.decode_cursor(request, 1)
    try:
        after = int(cursor[0]) if cursor else 0
    except ValueError:
        raise params.bad_request("cursor is not one this node issued") from None
    limit = params.limit(request)
    rows = await node.store.list_records(where, after, limit)
    # the last page answers a cursor too: a poller resumes from it and sees only new arrivals
    following = params.encode_cursor(rows[-1].seq if rows else after)
    return web.json_response({"records": [row_json(r) for r in rows], "next": following})
