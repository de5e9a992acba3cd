"""What every command shares: one-line failures, async running, a client session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from crypto import InvalidDid, raw_from_did
from node.transport import NodeClient, timeouts

T = TypeVar("T")


class CliError(Exception):
    """A command failed; the message is the one line printed before exiting non-zero."""


def say(text: str) -> None:
    print(text, flush=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def client(url: str, total: float = 15.0):  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(timeout=timeouts(total=total)) as session:
        yield NodeClient(url, session)


def read_passphrase_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        passphrase = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise CliError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    if not passphrase:
        raise CliError(f"passphrase file {path} is empty; refusing to use an empty passphrase")
    return passphrase


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_did(text: str, name: str) -> bytes:
    try:
        return raw_from_did(text)
    except InvalidDid as exc:
        raise CliError(f"{name}: {exc}") from None


def parse_id(text: str, name: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32 or text != text.lower():
        raise CliError(f"{name} must be a record id (64 lowercase hex digits), not {text!r:.80}")
    return value


def parse_date_ms(text: str, name: str) -> int:
    """A date (YYYY-MM-DD) or ISO datetime, or integer milliseconds, as ms since the epoch."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{name} must be a date like 2026-12-01, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


Handler = Callable[[Any], int | Awaitable[int | None] | None]
