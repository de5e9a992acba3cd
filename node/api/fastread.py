"""Reads by id answered under aiohttp's request objects: ``GET /v1/records/{id}`` of a plain,
complete, bodiless request, answered from the connection's protocol in one write.

A read by id is the API's hottest request and its answer is a pure function of the stored row,
the ``Accept`` and ``Origin`` headers and the client's rate-limit bucket. Through aiohttp it
costs a request object, routing among the node's routes, the gate, a response object, its
signals and a writer; here it costs a parse of the head, the same primary-key lookup, the same
rendered view and the same header values (built by the same functions), so the two answers
differ in nothing but the time they took (``tests/node/test_fastread.py`` compares them byte
for byte, ``Date`` aside).

Anything else goes to aiohttp untouched: another route, a query string, ``HEAD``, HTTP/1.0, a
body, a signed request, ``If-None-Match``, a proxy's forwarded address, a header this module
does not know, a record that is not live (404 and 410 are aiohttp's), a client over its rate
limit, a connection whose writes are backed up, a store that cannot answer at once. The
connection-level rules (when a connection may be answered here at all) are in ``node.guard``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE

from node.api.caching import IMMUTABLE
from node.api.cors import EXPOSE_HEADERS
from node.api.keys import NODE, OBSERVE_PLAIN
from node.api.limits import REQUEST_LIMITS
from node.api.ratelimit import verdict_items
from node.api.records import JSON, MSGPACK, row_json
from node.api.recordviews import RECORD_VIEWS
from node.storage.queries import Row

log = logging.getLogger("rakuichi.fastread")

ROUTE = "/v1/records/{id}"
_REQUEST_LINE = re.compile(rb"GET /v1/records/([0-9A-Fa-f]{64}) HTTP/1\.1\r\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?|")
# headers that do not change a read by id's answer; any other sends the request to aiohttp
_HARMLESS = frozenset(
    {
        b"host",
        b"user-agent",
        b"accept-encoding",
        b"accept-language",
        b"cache-control",
        b"pragma",
        b"referer",
        b"dnt",
        b"priority",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"sec-fetch-dest",
        b"sec-ch-ua",
        b"sec-ch-ua-mobile",
        b"sec-ch-ua-platform",
    }
)
_HEAD_END = b"\r\n\r\n"
_PREFIX = b"GET /v1/records/"
_WIRE = MSGPACK.encode()
# a read by id never needs a longer head; a longer one is aiohttp's to take or refuse (its
# parser refuses a line over 8190 bytes)
MAX_HEAD = 8190


@dataclass(frozen=True, slots=True)
class ReadById:
    """A request this module can answer: the id, and the headers the answer depends on."""

    record_id: bytes
    wants_wire: bool
    cross_origin: bool


def parse(data: bytes) -> ReadById | None:
    """The read by id that ``data`` is, exactly one complete head and nothing else; None for
    anything else (which aiohttp then parses, and refuses if it is malformed)."""
    if (
        len(data) > MAX_HEAD
        or not data.endswith(_HEAD_END)
        or data.find(_HEAD_END) != len(data) - 4
    ):
        return None
    line = _REQUEST_LINE.match(data)
    if line is None:
        return None
    accept: bytes | None = None
    origin = False
    seen: set[bytes] = set()
    for field in data[line.end() : -4].split(b"\r\n"):
        name, colon, raw = field.partition(b":")
        value = raw.strip(b" \t")
        if not colon or _TOKEN.fullmatch(name) is None or _VALUE.fullmatch(value) is None:
            return None
        lower = name.lower()
        if lower in seen:
            return None
        seen.add(lower)
        if lower == b"accept":
            accept = value
        elif lower == b"origin":
            origin = True
        elif lower == b"content-length":
            if value != b"0":
                return None
        elif lower == b"connection":
            if value.lower() != b"keep-alive":
                return None
        elif lower not in _HARMLESS:
            return None
    wants_wire = accept is not None and _WIRE in accept
    return ReadById(bytes.fromhex(line.group(1).decode()), wants_wire, origin)


def may_become_a_read(data: bytes) -> bool:
    """Whether ``data``, a head not yet complete, could still be one ``parse`` takes: worth
    holding back from aiohttp until the rest arrives (anything else is aiohttp's at once, so
    that it answers or refuses as soon as it would)."""
    return (
        len(data) < MAX_HEAD
        and (data.startswith(_PREFIX) or _PREFIX.startswith(data))
        and data.count(b"\n") == data.count(b"\r\n")
    )


def bodiless_heads(data: bytes) -> bool:
    """Whether ``data`` is whole request heads and nothing else, none announcing a body or an
    upgrade: after aiohttp has taken them, its parser holds nothing half-read."""
    if not data.endswith(_HEAD_END):
        return False
    for head in data[:-4].lower().split(_HEAD_END):
        for field in head.split(b"\r\n")[1:]:
            name, _, value = field.partition(b":")
            name = name.strip()
            if name in (b"transfer-encoding", b"upgrade", b"expect"):
                return False
            if name == b"content-length" and value.strip() != b"0":
                return False
    return True


Lookup = Callable[[bytes], Row | None]


class FastReads:
    """Answers reads by id for the node's app; ``answer`` returns the bytes to write, or None
    to leave the request to aiohttp. Built once the app is set up (``node.runner``)."""

    def __init__(self, app: web.Application, lookup: Lookup) -> None:
        self.lookup = lookup
        self.limits = app[REQUEST_LIMITS]
        self.views = app[RECORD_VIEWS]
        self.clock = app[NODE].clock
        self.observe = app.get(OBSERVE_PLAIN)
        self.answered = 0

    def answer(self, data: bytes, address: str) -> bytes | None:
        started = time.perf_counter()
        read = parse(data)
        if read is None:
            return None
        try:
            row = self.lookup(read.record_id)
        except Exception:  # busy or faulty: aiohttp asks again and answers what it finds
            return None
        if row is None or row.wire is None:
            return None
        if read.wants_wire:
            body, content_type = row.wire, MSGPACK
            etag = f'"{read.record_id.hex()}.msgpack"'
        else:
            view = self.views.get(read.record_id)
            if view is None:
                try:
                    view = json.dumps(row_json(row)).encode()
                except Exception:  # aiohttp tries again and answers what the gate makes of it
                    log.exception("record %s: no JSON view", read.record_id.hex())
                    return None
                self.views.put(read.record_id, view)
            body, content_type, etag = view, JSON, f'"{read.record_id.hex()}"'
        limiter = self.limits.by_address
        verdict = limiter.spend(address, self.clock.monotonic())
        if verdict.wait > 0:  # refused: spending again refuses the same, and aiohttp says 429
            return None
        policy, state = verdict_items(limiter, "address", verdict)
        cors = (
            f"Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: {EXPOSE_HEADERS}\r\n"
            if read.cross_origin
            else ""
        )
        head = (
            f"HTTP/1.1 200 OK\r\nETag: {etag}\r\nCache-Control: {IMMUTABLE}\r\nVary: Accept\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Date: {rfc822_formatted_time()}\r\nServer: {SERVER_SOFTWARE}\r\n{cors}"
            f"RateLimit-Policy: {policy}\r\nRateLimit: {state}\r\n\r\n"
        )
        self.answered += 1
        if self.observe is not None:
            path = data[4 : data.index(b" ", 4)].decode()
            self.observe(address, "GET", path, ROUTE, 200, len(body), time.perf_counter() - started)
        return head.encode() + body
