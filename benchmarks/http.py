"""A minimal HTTP/1.1 keep-alive client for load: little CPU per request, so that the node,
not the client sharing its cores, is what a benchmark measures.

Only what the node's answers need: ``Content-Length`` bodies (aiohttp sends one for every
complete response) and, for safety, chunked ones. Each ``Connection`` sends one request at a
time; ``load`` runs several connections in a closed loop and records every latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


class HttpError(Exception):
    pass


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked = None, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            return status, await self._chunked()
        if length is None:
            raise HttpError(f"{method} {path}: answer without Content-Length")
        return status, await self.reader.readexactly(length)

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


Request = tuple[str, str, bytes, str]  # method, path, body, extra header lines


async def load(
    host: str,
    port: int,
    requests: Sequence[Request],
    clients: int,
    check: Callable[[int, bytes], bool] | None = None,
    timeout: float = 300.0,
) -> LoadResult:
    """Send ``requests`` over ``clients`` connections, each one at a time; every answer must
    pass ``check`` (default: a 2xx status)."""
    conns = [await Connection(host, port).open() for _ in range(clients)]
    queue = iter(requests)
    result = LoadResult(0.0)
    ok = check or (lambda status, body: 200 <= status < 300)

    async def worker(conn: Connection) -> None:
        for method, path, body, headers in queue:
            t0 = time.perf_counter()
            status, answer = await conn.request(method, path, body, headers)
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not ok(status, answer):
                raise HttpError(f"{method} {path}: {status} {answer[:200]!r}")

    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), timeout)
    finally:
        result.seconds = time.perf_counter() - started
        for conn in conns:
            await conn.close()
    return result
