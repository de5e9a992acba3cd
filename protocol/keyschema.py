"""The two key-event kinds as known kinds (revision 3 proposal, docs/protocol.md section 15.2).

What one key event must satisfy on its own, split as the validation steps are:

- **schema** (``INCEPTION_FIELDS``, ``ROTATION_FIELDS``, ``structure_rule``): the body table
  exactly, the signing key differs from the author and from the identity, ``next`` commits to
  none of the identity, the author and the signing key, and a rotation is not signed by the
  identity's first key;
- **signature** (``consent_problem``): ``key_sig`` verifies under ``key`` over
  ``consent_message(identity, seq)``: the new signing key consents to serve the identity.

``protocol.kinds`` puts the first in the kind table; ``protocol.validate`` checks the second
beside the record's own signatures. This module imports nothing of the kind table, so both can
use it.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

from crypto import CryptoError, did_from_raw, sha256
from crypto.keys import verify_raw
from protocol.errors import SchemaError
from protocol.schema import Field, digest, integer, key, milliseconds, record_id

KEY_INCEPTION = "key.inception"
KEY_ROTATION = "key.rotation"
KEY_EVENT_KINDS = frozenset({KEY_INCEPTION, KEY_ROTATION})
CONSENT_PREFIX = b"rakuichi-key-consent-v1\x00"
MAX_SEQ = 2**31 - 1
SIGNATURE_BYTES = 64


def _signature(name: str, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != SIGNATURE_BYTES:
        raise SchemaError(f"{name} must be an Ed25519 signature (64 bytes)")


INCEPTION_FIELDS: dict[str, Field] = {
    "key": Field(key),
    "key_sig": Field(_signature),
    "next": Field(digest),
    "cutoff": Field(milliseconds, optional=True),
}
ROTATION_FIELDS: dict[str, Field] = {
    **INCEPTION_FIELDS,
    "identity": Field(key),
    "seq": Field(integer(1, MAX_SEQ)),
    "prior": Field(record_id),
}


def consent_message(identity: bytes, seq: int) -> bytes:
    """What a new signing key signs to serve ``identity`` from step ``seq`` on.

    ``b"rakuichi-key-consent-v1\\x00"`` (24 bytes) + the identity's first key (32 bytes) +
    ``seq`` as an unsigned 64-bit big-endian integer (8 bytes): 64 bytes in all.
    """
    return CONSENT_PREFIX + identity + struct.pack(">Q", seq)


def next_digest(rotation_key: bytes) -> bytes:
    """The commitment to a rotation key: SHA-256 of its 32 raw public-key bytes."""
    return sha256(rotation_key)


def identity_and_seq(kind: str, author: bytes, body: dict[str, Any]) -> tuple[bytes, int]:
    """The identity an event serves and its step (an inception: its author, step 0)."""
    if kind == KEY_INCEPTION:
        return author, 0
    return body["identity"], body["seq"]


def structure_rule(kind: str) -> Any:
    """The rules of section 15.2 that need no signature check, for the kind table."""

    def rule(author: bytes, body: dict[str, Any]) -> None:
        identity, _ = identity_and_seq(kind, author, body)
        if kind == KEY_ROTATION and author == identity:
            raise SchemaError("a rotation is signed by a rotation key, not by the first key")
        if body["key"] in (author, identity):
            raise SchemaError(
                "body.key must be a new signing key (not the author nor the identity)"
            )
        if body["next"] in {next_digest(k) for k in (identity, author, body["key"])}:
            raise SchemaError("body.next must commit to a new rotation key")

    return rule


def consent_problem(kind: str, author: bytes, body: dict[str, Any]) -> str | None:
    """Why the consent ``key_sig`` of a key event (whose body passed the schema) fails, or
    None when it verifies."""
    identity, seq = identity_and_seq(kind, author, body)
    problem = _verify(body["key"], body["key_sig"], consent_message(identity, seq))
    if problem is None:
        return None
    return f"body.key_sig: {did_from_raw(body['key'])} did not consent: {problem}"


@lru_cache(maxsize=65_536)
def _verify(key: bytes, signature: bytes, message: bytes) -> str | None:
    """Cached: histories are computed again and again from the same events, and an Ed25519
    verification is the costly part."""
    try:
        verify_raw(key, signature, message)
    except CryptoError as exc:
        return str(exc)
    return None
