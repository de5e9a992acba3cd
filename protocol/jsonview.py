"""The JSON view of a record for developers, and its exact inverse.

Keys are shown as did:key, ids and digests as 64 hex digits, signatures as hex. For known kinds
the body's binary fields are known by name; in unknown kinds a byte string is shown as
``{"$hex": "..."}`` so that the view still maps back to the same bytes, and a map key that
starts with ``$`` is shown with one more ``$`` in front so that no map is mistaken for bytes.
"""

from __future__ import annotations

from typing import Any

from crypto import CryptoError, did_from_raw, raw_from_did
from protocol.errors import SchemaError
from protocol.kinds import KINDS
from protocol.record import Record

KEY_FIELDS = frozenset({"member", "subject", "key", "identity"})
HEX_FIELDS = frozenset({"opportunity", "terms", "alliance", "target", "key_sig", "next", "prior"})
OPAQUE_BYTES = "$hex"


def to_json(record: Record, *, retracted: bool = False) -> dict[str, Any]:
    """A JSON-ready dict of ``record`` (its ``id`` included)."""
    known = record.kind in KINDS
    view: dict[str, Any] = {
        "id": record.id.hex(),
        "v": 1,
        "kind": record.kind,
        "author": did_from_raw(record.author),
        "created": record.created,
        "body": _body_to_json(record.body, known),
        "sigs": [{"signer": did_from_raw(k), "sig": s.hex()} for k, s in record.sigs],
    }
    if retracted:
        view["retracted"] = True
    return view


def from_json(view: dict[str, Any]) -> Record:
    """The record a JSON view stands for; raises ``SchemaError`` if it does not map back.

    The result is not validated; pass ``record.wire`` to ``protocol.validate.validate``.
    """
    try:
        kind = view["kind"]
        known = kind in KINDS
        body = _body_from_json(view["body"], known)
        sigs = [(raw_from_did(s["signer"]), bytes.fromhex(s["sig"])) for s in view["sigs"]]
        record = Record.build(kind, raw_from_did(view["author"]), view["created"], body, sigs)
    except (KeyError, TypeError, ValueError, CryptoError) as exc:
        raise SchemaError(f"not a record view: {exc!r}") from None
    if "id" in view and view["id"] != record.id.hex():
        raise SchemaError("the view's id does not match its content")
    return record


def body_from_json(body: Any, kind: str) -> Any:
    """A record body from its JSON form (did:key and hex back to bytes for known kinds)."""
    return _body_from_json(body, kind in KINDS)


def _body_to_json(value: Any, known: bool, name: str = "") -> Any:
    if isinstance(value, dict):
        if not known:
            return {_escape(k): _body_to_json(v, known, k) for k, v in value.items()}
        return {k: _body_to_json(v, known, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_body_to_json(v, known, name) for v in value]
    if isinstance(value, bytes):
        if not known:
            return {OPAQUE_BYTES: value.hex()}
        return did_from_raw(value) if name in KEY_FIELDS else value.hex()
    return value


def _body_from_json(value: Any, known: bool, name: str = "") -> Any:
    if isinstance(value, dict):
        if not known and set(value) == {OPAQUE_BYTES}:
            return bytes.fromhex(value[OPAQUE_BYTES])
        if not known:
            return {_unescape(k): _body_from_json(v, known, k) for k, v in value.items()}
        return {k: _body_from_json(v, known, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_body_from_json(v, known, name) for v in value]
    if known and isinstance(value, str):
        if name in KEY_FIELDS:
            return raw_from_did(value)
        if name in HEX_FIELDS:
            return bytes.fromhex(value)
    return value


def _escape(key: str) -> str:
    """A map key of an unknown kind as the view shows it: ``$...`` becomes ``$$...``."""
    return "$" + key if key.startswith("$") else key


def _unescape(key: str) -> str:
    if not key.startswith("$"):
        return key
    if not key.startswith("$$"):
        raise ValueError(f"map key {key!r} of an unknown kind must be written ${key}")
    return key[1:]
