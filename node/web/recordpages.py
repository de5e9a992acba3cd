"""One record (``/records/{id}``), an alliance draft to co-sign (``/drafts/{id}``) and
checking a reputation bundle (``/verify``)."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from crypto import did_from_raw
from node.api.keys import NODE
from node.api.reputation import MAX_BUNDLE_BYTES
from node.web import shaping
from node.web.catalog import MESSAGES as _LABELS
from node.web.render import PageError, page, render
from protocol import (
    BundleError,
    Draft,
    Rejected,
    kinds,
    parse,
    read_bundle,
    validate_record,
    verify_bundle,
)

routes = web.RouteTableDef()

# body fields that hold a key, a record id, a time, a list, or an enumerated word
KEY_FIELDS = frozenset({"member", "subject"})
ID_FIELDS = frozenset({"opportunity", "alliance", "target"})
TIME_FIELDS = frozenset({"starts", "ends", "expires"})
ENUM_FIELDS = {"tour": "tour.", "status": "status.", "outcome": "outcome.", "claim": "claim."}


def parse_id(text: str) -> bytes:
    if len(text) != 64:
        raise PageError(400, "error.bad_id", value=text[:80])
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PageError(400, "error.bad_id", value=text[:80]) from None


def fields(body: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(label key, how to show it, value) for each body field, in the body's order."""
    out = []
    for name, value in body.items():
        label = f"f.{name}" if f"f.{name}" in _LABELS else "f.other"
        if name in KEY_FIELDS and isinstance(value, bytes):
            how = "key"
        elif name in ID_FIELDS and isinstance(value, bytes):
            how = "id"
        elif name in TIME_FIELDS and isinstance(value, int):
            how = "date"
        elif name in ENUM_FIELDS and isinstance(value, str):
            how = "enum:" + ENUM_FIELDS[name]
        elif isinstance(value, bool):
            how = "bool"
        elif isinstance(value, bytes):
            how = "hex"
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            how = "list"
        elif isinstance(value, (str, int)):
            how = "text"
        else:
            how = "raw"
        out.append((label, how, value if how != "raw" else repr(value)[:2000]))
    return out


@routes.get("/records/{id}")
@page
async def record_page(request: web.Request) -> web.Response:
    store = request.app[NODE].store
    rid = parse_id(request.match_info["id"])
    row = await store.get_record(rid)
    if row is None or row.wire is None:
        if row is not None or await store.is_retracted(rid):
            raise PageError(410, "record.retracted")
        raise PageError(404, "record.unknown")
    # stored records passed validation on the way in; check them again for what the page says
    record = validate_record(row.wire, request.app[NODE].clock.now_ms())
    names = await shaping.names(store, [record.author, *record.signers])
    return render(
        request,
        "record.html",
        {
            "record": record,
            "fields": fields(record.body),
            "names": names,
            "kind_key": f"kind.{record.kind}" if f"kind.{record.kind}" in _LABELS else "kind.other",
            "size": len(row.wire),
        },
    )


@routes.get("/records/{id}/wire")
async def record_wire(request: web.Request) -> web.StreamResponse:
    """The exact wire bytes, as a file to save."""
    try:
        rid = parse_id(request.match_info["id"])
    except PageError:
        raise web.HTTPBadRequest(text="not a record id") from None
    store = request.app[NODE].store
    row = await store.get_record(rid)
    if row is None or row.wire is None:
        # a tombstone, or the target of a retract held here that never arrived: 410 as the
        # record's page says (PROTOCOL-v1 section 5)
        if row is not None or await store.is_retracted(rid):
            raise web.HTTPGone()
        raise web.HTTPNotFound()
    return web.Response(
        body=row.wire,
        content_type="application/msgpack",
        headers={"Content-Disposition": f'attachment; filename="{rid.hex()}.rakuichi"'},
    )


@routes.get("/drafts/{id}")
@page
async def draft_page(request: web.Request) -> web.Response:
    node = request.app[NODE]
    store = node.store
    draft_id = parse_id(request.match_info["id"])
    wire = await store.get_draft(draft_id)
    if wire is None:
        raise PageError(404, "draft.unknown")
    draft = Draft.from_wire(wire)  # the organisation's signature is checked here
    names = await store.profile_names(kinds.ORG_PROFILE, [draft.author])
    org_name = names.get(draft.author) or did_from_raw(draft.author)
    member = draft.body["member"]
    opportunity = None
    if "opportunity" in draft.body:
        row = await store.get_record(draft.body["opportunity"])
        if row is not None and row.wire is not None:
            opportunity = shaping.record_of(row)
    url = f"{node.config.public_url}/v1/drafts/{draft_id.hex()}"
    return render(
        request,
        "draft.html",
        {
            "draft": draft,
            "org_name": org_name,
            "member": member,
            "opportunity": opportunity,
            "signed": await store.get_record(draft_id) is not None,
            "cli": f"rakuichi member sign {url} --wallet YOUR-WALLET.key",
            "sigs": ",".join(f"{k.hex()}:{s.hex()}" for k, s in draft.sigs),
        },
    )


@routes.get("/verify")
@page
async def verify_form(request: web.Request) -> web.Response:
    return render(request, "verify.html", {"report": None, "problem": None})


@routes.post("/verify")
@page
async def verify_post(request: web.Request) -> web.Response:
    problem = None
    report = None
    records: list[tuple[str, bytes]] = []
    try:
        payload = form_file(request.headers.get("Content-Type", ""), await request.read(), "bundle")
        if len(payload) > MAX_BUNDLE_BYTES:
            raise BundleError(f"over {MAX_BUNDLE_BYTES} bytes")
        report = verify_bundle(payload, request.app[NODE].clock.now_ms())
        if report.ok:  # every record validated: name each one, in the bundle's order
            records = [_kind_and_id(wire) for wire in read_bundle(payload)[1]]
    except BundleError as exc:
        problem = str(exc)
    except Rejected as exc:
        problem = exc.detail
    except ValueError as exc:  # a form that is not multipart
        problem = str(exc)
    status = 400 if problem else 200
    context = {"report": report, "problem": problem, "records": records}
    return render(request, "verify.html", context, status)


def _kind_and_id(wire: bytes) -> tuple[str, bytes]:
    record = parse(wire)
    return (f"kind.{record.kind}" if f"kind.{record.kind}" in _LABELS else "kind.other"), record.id


def form_file(content_type: str, body: bytes, name: str) -> bytes:
    """The bytes of field ``name`` of a multipart/form-data ``body`` (b"" when absent).

    The gate (node/api/gate.py, with node/api/bodies.py) has already read the request's stream
    under its limits, so ``request.post()`` would find it empty: the form is parsed from those
    bytes."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("the form is not multipart/form-data")
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("the multipart form has no parts")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            data = part.get_payload(decode=True)
            return data if isinstance(data, bytes) else b""
    return b""
