"""Connections one client cannot hoard: a protocol-level guard in front of aiohttp's handler.

aiohttp closes a connection that stays idle past its keep-alive timeout, but gives a request's
headers no deadline of their own and no cap on how many connections one address holds. This
guard wraps each connection's protocol:

* at most ``connections_per_address`` concurrent connections per remote address (more are
  closed at once, before any byte is read; ``[node] trusted_proxies`` are not capped);
* the first request's line and headers must be complete ``header_timeout`` seconds after the
  accept (later requests on a kept-alive connection are bounded by aiohttp's keep-alive
  timeout, set to ``idle_timeout``);
* at start, the soft limit on open files is raised to the hard limit.

Bodies (minimum rate, size, bytes in flight) are watched in ``node.api.bodies``.

A request that ``node.api.fastread`` can answer (a plain read by id) is answered here, without
aiohttp, when nothing on the connection can be overtaken: every chunk aiohttp was handed ended
a complete head without a body, and its handler is waiting for the next request (so every
answer it owed is written, and it is not closing the connection). A head that arrives in
pieces is held until it is whole while it can still become a read by id
(``fastread.may_become_a_read``), so aiohttp is never handed half of one while the connection
is clean; anything else is handed at once. Once aiohttp has been handed a body or part of a
head, the connection stays with it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import socket
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from node.api.fastread import FastReads, bodiless_heads, may_become_a_read
from node.limits import Limits

log = logging.getLogger("rakuichi.guard")
_HEAD_END = b"\r\n\r\n"


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, target, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class ConnectionGuard:
    """Counts connections per address and what it closed (reported at ``/metrics`` if any)."""

    def __init__(
        self,
        limits: Limits,
        trusted_proxies: tuple[str, ...] = (),
        fast: FastReads | None = None,
    ) -> None:
        self.limits = limits
        self.fast = fast if fast is not None and aiohttp_fits() else None
        # a trusted reverse proxy carries many clients' connections: not capped
        self.exempt = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
        self.per_address: dict[str, int] = {}
        self.refused = 0  # connections over the per-address cap
        self.header_timeouts = 0  # connections closed for slow or missing headers

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.exempt)

    def admit(self, address: str) -> bool:
        if self.exempt and self._exempt(address):
            return True
        count = self.per_address.get(address, 0)
        if count >= self.limits.connections_per_address > 0:
            self.refused += 1
            return False
        self.per_address[address] = count + 1
        return True

    def release(self, address: str) -> None:
        if address not in self.per_address:
            return
        count = self.per_address.get(address, 0) - 1
        if count > 0:
            self.per_address[address] = count
        else:
            self.per_address.pop(address, None)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: GuardedProtocol(inner(), self)


class GuardedProtocol(asyncio.Protocol):
    """Passes every event to aiohttp's protocol, after the guard's checks."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.address: str | None = None
        self.transport: asyncio.Transport | None = None
        self._head_tail = b""
        self._deadline: asyncio.TimerHandle | None = None
        self._clean = True  # each chunk aiohttp was given ended a complete bodiless head
        self._held = b""  # the start of a head not yet whole, while the connection is clean

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self.guard.admit(address):
            transport.abort()
            return
        self.address, self.transport = address, transport
        timeout = self.guard.limits.header_timeout
        if timeout > 0:
            self._deadline = asyncio.get_running_loop().call_later(timeout, self._headers_late)
        self.inner.connection_made(transport)

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.guard.header_timeouts += 1
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.address is None:
            return
        if self._deadline is not None:
            seen = self._head_tail + data[:65536]
            if _HEAD_END in seen:
                self._deadline.cancel()
                self._deadline = None
            self._head_tail = seen[-3:]
        if self._clean and self.guard.fast is not None:
            if self._held:  # the start of this head came in an earlier piece
                data, self._held = self._held + data, b""
            if _HEAD_END not in data and may_become_a_read(data):
                self._held = data  # aiohttp sees the head once it is whole (or the EOF)
                return
            if self._answer_fast(data):
                return
        if self._clean and not bodiless_heads(data):
            self._clean = False
        self.inner.data_received(data)

    def _answer_fast(self, data: bytes) -> bool:
        transport, fast = self.transport, self.guard.fast
        assert transport is not None and fast is not None and self.address is not None
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        if not aiohttp_idle(self.inner):  # it owes an answer, or it is closing the connection
            return False
        answer = fast.answer(data, self.address)
        if answer is None:
            return False
        transport.write(answer)
        keep_alive(self.inner)
        return True

    def eof_received(self) -> bool | None:
        if self.address is None:
            return None
        if self._held:
            held, self._held = self._held, b""
            self._clean = False
            self.inner.data_received(held)
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is None:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.guard.release(self.address)
        self.address = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


# what ``aiohttp_idle`` and ``keep_alive`` read of aiohttp's RequestHandler (its slots)
_HANDLER_SLOTS = (
    "_waiter",
    "_messages",
    "_next_keepalive_close_time",
    "_keepalive_timeout",
    "_keepalive_handle",
)


def aiohttp_fits() -> bool:
    """Whether aiohttp's request handler has the slots the fast reads rely on (if a release
    renames them, reads by id simply all go through aiohttp)."""
    slots = set(getattr(RequestHandler, "__slots__", ()))
    return all(name in slots for name in _HANDLER_SLOTS) and callable(
        getattr(RequestHandler, "_process_keepalive", None)
    )


def aiohttp_idle(handler: object) -> bool:
    """Whether aiohttp's handler waits for the next request with none queued: every request it
    was handed has been answered and written."""
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done() and not getattr(handler, "_messages", True)


def keep_alive(handler: object) -> None:
    """A request was answered on this connection: aiohttp's keep-alive timer counts from now."""
    if isinstance(handler, RequestHandler):
        loop = asyncio.get_running_loop()
        close_time = loop.time() + handler._keepalive_timeout
        handler._next_keepalive_close_time = close_time
        if handler._keepalive_handle is None:  # as aiohttp arms it after each of its answers
            handler._keepalive_handle = loop.call_at(close_time, handler._process_keepalive)


class GuardedSite(web.BaseSite):
    """``web.TCPSite`` whose connections go through a ``ConnectionGuard``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        sock: socket.socket | None = None,
    ):
        super().__init__(runner)
        self._host, self._port, self.guard = host, port, guard
        self._sock = sock  # a socket bound by a parent process (a node of several workers)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(
                self.guard.factory(server), sock=self._sock, backlog=self._backlog
            )
            return
        self._server = await loop.create_server(
            self.guard.factory(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )
