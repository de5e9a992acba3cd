"""A small Server-Sent Events reader for tests (aiohttp), bounded in time everywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Event:
    id: str | None
    event: str
    data: str

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """Events (and comment lines) of one open ``text/event-stream`` response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []
        self.last_id: str | None = None

    async def next(self, timeout: float = 20.0) -> Event | None:
        """The next event, or None when the server closed the stream."""
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if data or "event" in fields:
                    event = Event(fields.get("id"), fields.get("event", "message"), "\n".join(data))
                    if event.id is not None:
                        self.last_id = event.id
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    async def comment(self, text: str, timeout: float = 20.0) -> None:
        """Read on until a comment line ``: text`` arrives (events read meanwhile are lost)."""
        async with asyncio.timeout(timeout):
            while text not in self.comments:
                raw = await self.response.content.readline()
                assert raw, f"stream closed before the comment {text!r}"
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())

    async def take(self, count: int, timeout: float = 60.0) -> list[Event]:
        """Exactly the next ``count`` events (fails if the stream ends or time runs out)."""
        events: list[Event] = []
        async with asyncio.timeout(timeout):
            while len(events) < count:
                event = await self.next(timeout)
                assert event is not None, f"stream closed after {len(events)} of {count} events"
                events.append(event)
        return events


@asynccontextmanager
async def open_stream(
    session: aiohttp.ClientSession,
    url: str,
    last_event_id: str | None = None,
    **params: str | list[str],
) -> AsyncIterator[EventReader]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    query = [(k, v) for k, vs in params.items() for v in ([vs] if isinstance(vs, str) else vs)]
    async with session.get(
        f"{url}/v1/stream",
        params=query,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    ) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        yield EventReader(response)
