"""Query-parameter parsing: each parser names the parameter and what is wrong with it."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from crypto import InvalidDid, raw_from_did
from node.api.problems import bad_request
from node.storage.queries import MAX_LIMIT

DEFAULT_LIMIT = 50


def did(request: web.Request, name: str) -> bytes | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return raw_from_did(value)
    except InvalidDid as exc:
        raise bad_request(f"{name}: {exc}") from None


def did_text(value: str, name: str) -> bytes:
    try:
        return raw_from_did(value)
    except InvalidDid as exc:
        raise bad_request(f"{name}: {exc}") from None


def integer(request: web.Request, name: str, low: int = 0, high: int = 2**53 - 1) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise bad_request(f"{name} must be in {low}..{high}, not {number}")
    return number


def limit(request: web.Request) -> int:
    return integer(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT


def boolean(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise bad_request(f"{name} must be true or false, not {value!r}")


def choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def record_id(text: str, name: str = "id") -> bytes:
    if len(text) != 64:
        raise bad_request(f"{name} must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise bad_request(f"{name} must be 64 hex digits") from None


def encode_cursor(*parts: object) -> str:
    text = ":".join(p.hex() if isinstance(p, bytes) else str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(request: web.Request, count: int) -> list[str] | None:
    value = request.query.get("cursor")
    if value is None:
        return None
    try:
        parts = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("cursor is not one this node issued") from None
    if len(parts) != count:
        raise bad_request("cursor is not one this node issued")
    return parts
