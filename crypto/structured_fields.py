"""The subset of RFC 8941 structured fields that HTTP message signatures need.

Parses and serialises dictionaries whose members are items or inner lists with parameters.
Bare items are integers, strings, tokens, byte sequences and booleans; decimals are refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import NoReturn

_DIGITS = frozenset("0123456789")
_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
_ALPHA = _LCALPHA | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_KEY_FIRST = _LCALPHA | frozenset("*")
_KEY_CHARS = _LCALPHA | _DIGITS | frozenset("_-.*")
_TOKEN_FIRST = _ALPHA | frozenset("*")
_TOKEN_CHARS = _ALPHA | _DIGITS | frozenset("!#$%&'*+-.^_`|~:/")
_BASE64 = _ALPHA | _DIGITS | frozenset("+/=")
_SP = frozenset(" ")
_OWS = frozenset(" \t")
_INNER_LIST_NEXT = frozenset(" )")
_MAX_INTEGER = 999_999_999_999_999


class StructuredFieldError(ValueError):
    """Text that is not a structured field of the supported subset, or a value with no form."""


class Token(str):
    """An sf-token: a ``str`` serialised without quotes."""

    __slots__ = ()


BareItem = bool | int | str | bytes
Params = dict[str, BareItem]


@dataclass(slots=True)
class Item:
    """A bare item with its parameters."""

    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(slots=True)
class InnerList:
    """A parenthesised list of items with its own parameters."""

    items: list[Item]
    params: Params = field(default_factory=dict)


Member = Item | InnerList


class _Parser:
    """Cursor over the field text; each method consumes one production of RFC 8941 section 4.2."""

    __slots__ = ("i", "s")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def fail(self, what: str) -> NoReturn:
        raise StructuredFieldError(f"{what} at offset {self.i}")

    def skip(self, chars: frozenset[str]) -> None:
        while self.peek() in chars:
            self.i += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.i += 1

    def dictionary(self) -> dict[str, Member]:
        out: dict[str, Member] = {}
        while not self.at_end():
            key = self.key()
            if self.peek() == "=":
                self.i += 1
                out[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                out[key] = Item(True, self.params())
            self.skip(_OWS)
            if self.at_end():
                break
            self.expect(",")
            self.skip(_OWS)
            if self.at_end():
                self.fail("trailing comma")
        return out

    def inner_list(self) -> InnerList:
        self.expect("(")
        items: list[Item] = []
        while not self.at_end():
            self.skip(_SP)
            if self.peek() == ")":
                self.i += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.peek() not in _INNER_LIST_NEXT:
                self.fail("expected a space or ')' in inner list")
        self.fail("unterminated inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip(_SP)
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        start = self.i
        if self.peek() not in _KEY_FIRST:
            self.fail("expected a key")
        self.skip(_KEY_CHARS)
        return self.s[start : self.i]

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == "-" or c in _DIGITS:
            return self.integer()
        if c == '"':
            return self.string()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            return self.boolean()
        if c in _TOKEN_FIRST:
            start = self.i
            self.i += 1
            self.skip(_TOKEN_CHARS)
            return Token(self.s[start : self.i])
        self.fail("expected an item")

    def integer(self) -> int:
        start = self.i
        if self.peek() == "-":
            self.i += 1
        digits_start = self.i
        self.skip(_DIGITS)
        if self.i == digits_start:
            self.fail("expected a digit")
        if self.peek() == ".":
            self.fail("decimals are not supported")
        if self.i - digits_start > 15:
            self.fail("integer longer than 15 digits")
        return int(self.s[start : self.i])

    def string(self) -> str:
        self.i += 1
        out: list[str] = []
        while not self.at_end():
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                if self.peek() not in ('"', "\\"):
                    self.fail("bad escape in string")
                out.append(self.s[self.i])
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                self.fail("character outside printable ASCII in string")
            else:
                out.append(c)
        self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        self.i += 1
        start = self.i
        self.skip(_BASE64)
        if self.peek() != ":":
            self.fail("unterminated byte sequence")
        text = self.s[start : self.i]
        self.i += 1
        if "=" not in text:
            text += "=" * (-len(text) % 4)
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            self.fail("bad base64 in byte sequence")

    def boolean(self) -> bool:
        self.i += 1
        c = self.peek()
        if c not in ("0", "1"):
            self.fail("expected ?0 or ?1")
        self.i += 1
        return c == "1"


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a Dictionary field value (RFC 8941 section 4.2.2); an empty value gives ``{}``."""
    if not isinstance(text, str) or not text.isascii():
        raise StructuredFieldError("a structured field is ASCII text")
    return _Parser(text.strip(" ")).dictionary()


def _check_key(key: str) -> str:
    if not key or key[0] not in _KEY_FIRST or any(c not in _KEY_CHARS for c in key):
        raise StructuredFieldError(f"not a structured field key: {key!r}")
    return key


def serialize_bare_item(value: BareItem) -> str:
    """Serialise one bare item (RFC 8941 section 4.1.3)."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
            raise StructuredFieldError(f"integer out of range: {value}")
        return str(value)
    if isinstance(value, Token):
        if not value or value[0] not in _TOKEN_FIRST or any(c not in _TOKEN_CHARS for c in value):
            raise StructuredFieldError(f"not a token: {value!r}")
        return str(value)
    if isinstance(value, str):
        if any(not " " <= c <= "~" for c in value):
            raise StructuredFieldError(f"string has characters outside printable ASCII: {value!r}")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"no structured field form for {type(value).__name__}")


def serialize_params(params: Params) -> str:
    """Serialise parameters, ``;key=value`` each, a true boolean as the bare key."""
    return "".join(
        ";" + _check_key(k) + ("" if v is True else "=" + serialize_bare_item(v))
        for k, v in params.items()
    )


def serialize_member(member: Member) -> str:
    """Serialise an item or an inner list with their parameters."""
    if isinstance(member, InnerList):
        inner = " ".join(serialize_member(item) for item in member.items)
        return f"({inner}){serialize_params(member.params)}"
    return serialize_bare_item(member.value) + serialize_params(member.params)


def serialize_dictionary(members: dict[str, Member]) -> str:
    """Serialise a Dictionary (RFC 8941 section 4.1.2)."""
    parts = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            parts.append(_check_key(key) + serialize_params(member.params))
        else:
            parts.append(_check_key(key) + "=" + serialize_member(member))
    return ", ".join(parts)
