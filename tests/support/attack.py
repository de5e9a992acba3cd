"""Raw-socket clients for attack tests: bounded in count and time, aimed at 127.0.0.1 only.

An attacker's connections come from ``ATTACKER`` (127.0.0.2, another loopback address) so that
a per-address limit on them leaves the test's normal client (127.0.0.1) free, as it would leave
other clients on the internet free.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

ATTACKER = "127.0.0.2"


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", "attack tests aim at 127.0.0.1 only"
    assert parts.port is not None
    return parts.hostname, parts.port


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened: float

    async def send(self, data: bytes) -> bool:
        """False once the node has closed the connection."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    async def closed_after(self, limit: float) -> float | None:
        """Seconds from opening until the node closed the connection (None: still open)."""
        deadline = self.opened + limit
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                data = await asyncio.wait_for(self.reader.read(65536), left)
                if not data:
                    break
        except TimeoutError:
            return None
        except (ConnectionError, OSError):
            pass
        return time.monotonic() - self.opened

    async def response(self, timeout: float) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body of one response."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), timeout) if length else b""
        return status, headers, body

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


async def connect(url: str, source: str = ATTACKER) -> Conn:
    host, port = host_port(url)
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    return Conn(reader, writer, time.monotonic())


def post_head(path: str, length: int, content_type: str = "application/msgpack") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
