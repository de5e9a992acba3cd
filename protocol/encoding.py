"""Canonical MessagePack encoding (PROTOCOL-v1 section 2).

Exactly one encoding of each value is valid. Input is decoded under tight msgpack limits, its
value is checked in one walk (types, integer range, sorted string keys, depth), and then
re-encoded: the input is accepted only when the two byte strings are identical (which also
refuses repeated keys: the decoded map keeps one of them).
"""

from __future__ import annotations

from typing import Any

import msgpack

from protocol.errors import EncodingError, SizeError

MAX_RECORD_BYTES = 65_536
MAX_DEPTH = 8  # containers below the top-level value
MAX_INT = 2**53  # integers lie strictly between -MAX_INT and MAX_INT
MAX_ARRAY_LEN = 1024
MAX_MAP_LEN = 256
MAX_CONTAINERS = 2048  # maps and arrays in one value, all levels together

Value = Any  # dict[str, Value] | list[Value] | str | bytes | int | bool


class _ContainerBudget:
    """Counts maps and arrays while msgpack builds them, and stops a flood of empty ones
    before it takes memory (64 KiB of empty maps would be 60,000 dicts)."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def on_map(self, built: dict[Any, Any]) -> dict[Any, Any]:
        self.left -= 1
        if self.left < 0:
            raise EncodingError(f"more than {MAX_CONTAINERS} maps and arrays")
        return built

    def on_list(self, items: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise EncodingError(f"more than {MAX_CONTAINERS} maps and arrays")
        return items


def encode(value: Value) -> bytes:
    """Canonical encoding of ``value``; raises ``EncodingError`` for a value outside section 2."""
    try:
        packed: bytes = msgpack.packb(_canonical(value, 0), use_bin_type=True)
        return packed
    except UnicodeEncodeError:
        raise EncodingError("a string is not valid Unicode (lone surrogate)") from None


def _canonical(value: Value, depth: int) -> Value:
    """A copy of ``value`` with maps in key order, after checking every rule of section 2."""
    if isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        _check_int(value)
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        _check_depth(depth)
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, dict):
        _check_depth(depth)
        for key in value:
            if not isinstance(key, str):
                raise EncodingError(f"map key {key!r} is not a string")
        return {k: _canonical(value[k], depth + 1) for k in sorted(value)}
    raise EncodingError(f"type {type(value).__name__} is not allowed ({value!r:.40})")


def _check_int(n: int) -> None:
    if not -MAX_INT < n < MAX_INT:
        raise EncodingError(f"integer {n} is outside (-2^53, 2^53)")


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")


def decode(data: bytes, max_size: int = MAX_RECORD_BYTES) -> Value:
    """Decode canonical bytes; raises ``SizeError`` or ``EncodingError`` naming what is wrong.

    msgpack (C) decodes under tight limits, counting maps and arrays as it builds them; one
    walk over the value then checks its types, integer range, key order and depth; and the
    value must encode back to exactly ``data`` (shortest forms; a repeated key is lost in
    decoding and shows here).
    """
    if len(data) > max_size:
        raise SizeError(f"{len(data)} bytes is over the limit of {max_size}")
    budget = _ContainerBudget(MAX_CONTAINERS)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_hook=budget.on_map,
            list_hook=budget.on_list,
            max_str_len=max_size,
            max_bin_len=max_size,
            max_ext_len=0,
            max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_MAP_LEN,
        )
    except EncodingError:
        raise
    except msgpack.ExtraData:
        raise EncodingError("trailing bytes after the value") from None
    except UnicodeDecodeError:
        raise EncodingError("a string is not valid UTF-8") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise EncodingError(f"not decodable msgpack: {str(exc) or type(exc).__name__}") from None
    _check_tree(value, 0)
    if msgpack.packb(value, use_bin_type=True) != data:
        raise EncodingError("not in canonical form (shortest lengths and integers, no repeats)")
    return value


_LEAVES = frozenset({str, bytes, bool})  # exact types: msgpack builds no subclasses


def _check_tree(value: Value, depth: int) -> None:
    """Check a decoded value: allowed types, integer range, sorted string keys, depth. Leaves
    are checked in their container's loop: records are mostly leaves, and a call per leaf was
    most of the cost of decoding."""
    kind = type(value)
    if kind is dict:
        _check_depth(depth)
        previous: str | None = None
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(f"map key {key!r:.40} is not a string")
            if previous is not None and key <= previous:
                raise EncodingError(f"map keys not sorted: {key!r} after {previous!r}")
            previous = key
            item_kind = type(item)
            if item_kind in _LEAVES:
                continue
            if item_kind is int:
                if not -MAX_INT < item < MAX_INT:
                    _check_int(item)  # raises, naming the integer
                continue
            _check_tree(item, depth + 1)
        return
    if kind is list:
        _check_depth(depth)
        for item in value:
            item_kind = type(item)
            if item_kind in _LEAVES:
                continue
            if item_kind is int:
                if not -MAX_INT < item < MAX_INT:
                    _check_int(item)  # raises, naming the integer
                continue
            _check_tree(item, depth + 1)
        return
    if kind in _LEAVES:
        return
    if kind is int:
        _check_int(value)
        return
    if value is None:
        raise EncodingError("nil is not allowed")
    if kind is float:
        raise EncodingError("floats are not allowed")
    raise EncodingError(f"type {kind.__name__} is not allowed")
