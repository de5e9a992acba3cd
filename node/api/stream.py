"""``GET /v1/stream``: every record the node takes in, live, as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json

from aiohttp import HttpVersion11, web

from node.api import params
from node.api.keys import NODE
from node.api.problems import ApiError
from node.api.streamhub import StreamHub, Subscriber, event_frame
from node.storage.stream_queries import StreamFilter

STREAM_HUB = web.AppKey("stream_hub", StreamHub)
BACKLOG_PAGE = 500
OVERFLOW_GRACE = 30.0  # seconds an overflowed subscriber has to take its final event
routes = web.RouteTableDef()


def stream_filter(request: web.Request) -> StreamFilter:
    return StreamFilter(
        kinds=frozenset(request.query.getall("kind", [])),
        authors=frozenset(params.did_text(v, "author") for v in request.query.getall("author", [])),
        subjects=frozenset(
            params.did_text(v, "subject") for v in request.query.getall("subject", [])
        ),
    )


async def by_identity(request: web.Request, where: StreamFilter) -> StreamFilter:
    """``author`` and ``subject`` naming an identity with key events (by its first key or any
    of its keys) match every signing key of that identity known when the stream opens."""
    if not where.authors and not where.subjects:
        return where
    keys = await request.app[NODE].key_histories.histories()
    if not keys.histories:
        return where

    def widen(wanted: frozenset[bytes]) -> frozenset[bytes]:
        found = set(wanted)
        for key in wanted:
            history = keys.history(keys.resolve(key))
            if history is not None:
                found.update(w.key for w in history.windows)
                found.add(history.identity)
        return frozenset(found)

    return StreamFilter(where.kinds, widen(where.authors), widen(where.subjects))


def resume_cursor(request: web.Request) -> int | None:
    """Where the subscriber stands: ``Last-Event-ID`` (an EventSource reconnecting), else
    ``?since``, else None (live only, from now)."""
    for name, value in (
        ("Last-Event-ID", request.headers.get("Last-Event-ID")),
        ("since", request.query.get("since")),
    ):
        if value is not None and value.strip():
            if not value.strip().isdigit() or int(value) > 2**63 - 1:
                raise params.bad_request(
                    f"{name} must be a cursor this node issued (a decimal event id), not {value!r}"
                )
            return int(value)
    return None


def overflow_frame(sub: Subscriber) -> bytes:
    data = {
        "class": "overflow",
        "detail": "this subscriber fell too far behind; resume from the cursor",
        "resume": str(sub.delivered),
    }
    return f"id: {sub.delivered}\nevent: overflow\ndata: {json.dumps(data)}\n\n".encode()


async def _backlog(request: web.Request, response: web.StreamResponse, sub: Subscriber) -> None:
    """Write the records in ``(cursor, start]`` from the store, a page at a time."""
    store = request.app[NODE].store
    while not sub.overflowed and not sub.closing:
        rows = await store.stream_rows(sub.delivered, sub.start, sub.where, BACKLOG_PAGE)
        if rows:
            await response.write(b"".join(event_frame(r) for r in rows))
            sub.delivered = rows[-1].row.seq
        if len(rows) < BACKLOG_PAGE:
            return


@routes.get("/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[STREAM_HUB]
    where = await by_identity(request, stream_filter(request))
    cursor = resume_cursor(request)
    if cursor is None:  # the store's cursor, not the hub's: it may not have read the last commit
        cursor = await request.app[NODE].store.last_seq()
    if hub.full:
        raise ApiError(503, "busy", "this node serves as many streams as it can; retry later")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    response.force_close()  # a stream ends its connection: nothing follows it
    chunked = request.version >= HttpVersion11
    if chunked:
        response.enable_chunked_encoding()
    sub = hub.subscribe(where, cursor)
    loop = asyncio.get_running_loop()

    def abort_if_stuck() -> None:  # the final event could not be written: give up on the peer
        if sub in hub.subscribers and request.transport is not None:
            request.transport.abort()

    sub.on_overflow = lambda: loop.call_later(OVERFLOW_GRACE, abort_if_stuck)
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n: stream from " + str(cursor).encode() + b"\n\n")
        await _backlog(request, response, sub)
        transport = request.transport
        if transport is None:  # the peer went away during the backlog
            return response
        # aiohttp's writer holds nothing back (each write went to the transport): from here
        # on the hub writes this subscriber's events straight into the transport
        sub.go_live(transport, chunked)
        while not sub.closing and not sub.overflowed:
            await sub.wake.wait()
            sub.wake.clear()
        if sub.overflowed and not sub.closing:
            sub.write(overflow_frame(sub))
            # stay subscribed until the transport handed it all to the kernel: the grace timer
            # aborts a peer that never lets it (rather than aiohttp waiting on it at the end)
            while sub.unsent() and not transport.is_closing():
                await asyncio.sleep(0.05)
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        hub.unsubscribe(sub)
    return response
