"""A small declarative schema language for record bodies (PROTOCOL-v1 section 5).

Each field type is a callable check that raises ``SchemaError`` naming the field. Key fields are
checked against the key-validity rule of section 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crypto import InvalidKey, check_public_key
from protocol.errors import SchemaError

Check = Callable[[str, Any], None]


def _type_name(value: Any) -> str:
    return type(value).__name__


def text(max_chars: int) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise SchemaError(f"{name} must be a string, not {_type_name(value)}")
        if not 1 <= len(value) <= max_chars:
            raise SchemaError(f"{name} must be 1..{max_chars} characters, not {len(value)}")

    check.max_chars = max_chars  # type: ignore[attr-defined]
    return check


def pattern(regex: str) -> Check:
    compiled = re.compile(regex)

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise SchemaError(f"{name} must match {regex}, not {value!r:.80}")

    return check


def one_of(*choices: str) -> Check:
    allowed = frozenset(choices)

    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or value not in allowed:
            raise SchemaError(f"{name} must be one of {', '.join(choices)}, not {value!r:.80}")

    check.choices = choices  # type: ignore[attr-defined]
    return check


def integer(low: int | None = None, high: int | None = None) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(f"{name} must be an integer, not {_type_name(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise SchemaError(f"{name} must be in {low}..{high}, not {value}")

    return check


def boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SchemaError(f"{name} must be a boolean, not {_type_name(value)}")


def _bin32(what: str) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, bytes) or len(value) != 32:
            raise SchemaError(f"{name} must be {what} (32 bytes)")

    return check


record_id = _bin32("a record id")
digest = _bin32("a SHA-256 digest")
milliseconds = integer(0)


def key(name: str, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise SchemaError(f"{name} must be an Ed25519 public key (32 bytes)")
    try:
        check_public_key(value)
    except InvalidKey as exc:
        raise SchemaError(f"{name} is not a valid key: {exc}") from None


def array(item: Check, max_items: int) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, list):
            raise SchemaError(f"{name} must be an array, not {_type_name(value)}")
        if len(value) > max_items:
            raise SchemaError(f"{name} holds {len(value)} items, at most {max_items}")
        for i, element in enumerate(value):
            item(f"{name}[{i}]", element)

    check.item = item  # type: ignore[attr-defined]
    return check


@dataclass(frozen=True)
class Field:
    """One map field: its check, whether it may be omitted, and how JSON shows it."""

    check: Check
    optional: bool = False


def mapping(fields: Mapping[str, Field]) -> Check:
    required = frozenset(k for k, f in fields.items() if not f.optional)

    def check(name: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{name} must be a map, not {_type_name(value)}")
        unknown = value.keys() - fields.keys()
        if unknown:
            raise SchemaError(f"{name} has unknown key(s): {', '.join(sorted(unknown))}")
        missing = required - value.keys()
        if missing:
            raise SchemaError(f"{name} is missing required key(s): {', '.join(sorted(missing))}")
        for k, v in value.items():
            fields[k].check(f"{name}.{k}", v)

    check.fields = fields  # type: ignore[attr-defined]
    return check
