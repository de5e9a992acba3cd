"""Key events (revision 3 proposal): the records that carry an identity's key succession.

An identity is the did:key of its **first key**. Two kinds of key event build its history:

- ``key.inception`` — authored by the first key. It names the first **signing key** (``key``)
  and commits to the SHA-256 of the first **rotation key** (``next``).
- ``key.rotation`` — authored by the rotation key that the previous event committed to. It
  names the identity, its step (``seq``), the previous event (``prior``), a fresh signing key
  and the commitment to the following rotation key.

Both are single-signer records (the author), so a revision-2 node stores and forwards them as
unknown kinds. The new signing key consents to serve the identity with ``key_sig``: an Ed25519
signature over ``consent_message(identity, seq)``, so nobody can claim somebody else's key.

This module checks one event on its own (``parse_event``: body schema, consent signature, the
rules that need no other record). ``protocol.keyhistory`` checks events against each other.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from crypto import CryptoError, PublicKey, SigningKey, did_from_raw, sha256
from crypto.keys import verify_raw
from protocol.builder import sign_record
from protocol.errors import SchemaError
from protocol.record import Record
from protocol.schema import Field, digest, integer, key, mapping, milliseconds, record_id

KEY_INCEPTION = "key.inception"
KEY_ROTATION = "key.rotation"
KEY_EVENT_KINDS = frozenset({KEY_INCEPTION, KEY_ROTATION})
CONSENT_PREFIX = b"rakuichi-key-consent-v1\x00"
MAX_SEQ = 2**31 - 1
SIGNATURE_BYTES = 64


def _signature(name: str, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != SIGNATURE_BYTES:
        raise SchemaError(f"{name} must be an Ed25519 signature (64 bytes)")


_COMMON = {
    "key": Field(key),
    "key_sig": Field(_signature),
    "next": Field(digest),
    "cutoff": Field(milliseconds, optional=True),
}
INCEPTION_BODY = mapping(_COMMON)
ROTATION_BODY = mapping(
    {
        **_COMMON,
        "identity": Field(key),
        "seq": Field(integer(1, MAX_SEQ)),
        "prior": Field(record_id),
    }
)


def consent_message(identity: bytes, seq: int) -> bytes:
    """What a new signing key signs to serve ``identity`` from step ``seq`` on.

    ``b"rakuichi-key-consent-v1\\x00"`` (24 bytes) + the identity's first key (32 bytes) +
    ``seq`` as an unsigned 64-bit big-endian integer (8 bytes): 64 bytes in all.
    """
    return CONSENT_PREFIX + identity + struct.pack(">Q", seq)


def next_digest(rotation_key: bytes) -> bytes:
    """The commitment to a rotation key: SHA-256 of its 32 raw public-key bytes."""
    return sha256(rotation_key)


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key event that passed ``parse_event``: its record and the fields of its body."""

    record: Record
    identity: bytes  # the identity's first key (the author, for an inception)
    seq: int  # 0 for an inception
    prior: bytes | None  # id of the event at seq - 1 (None for an inception)
    key: bytes  # the signing key this event introduces
    next: bytes  # SHA-256 of the next rotation key
    cutoff: int | None  # the previous key stops counting here instead of at ``created``

    @property
    def id(self) -> bytes:
        return self.record.id

    @property
    def author(self) -> bytes:
        return self.record.author

    @property
    def created(self) -> int:
        return self.record.created

    @property
    def previous_key_end(self) -> int:
        """When the key in force before this event stops counting: ``created``, or ``cutoff``
        when that is earlier (an owner who finds a theft disowns what was signed since)."""
        if self.cutoff is None:
            return self.created
        return min(self.created, self.cutoff)


def parse_event(record: Record) -> KeyEvent:
    """Check a key event on its own; raises ``SchemaError`` naming what is wrong.

    Rules (besides the body schema): the signing key differs from the author and from the
    identity; ``next`` commits to none of the identity, the author and the signing key (the
    next rotation key must be a new key); ``key_sig`` verifies under ``key`` over
    ``consent_message(identity, seq)``; a rotation's author differs from its identity.
    """
    body = record.body
    if record.kind == KEY_INCEPTION:
        INCEPTION_BODY("body", body)
        identity, seq, prior = record.author, 0, None
    elif record.kind == KEY_ROTATION:
        ROTATION_BODY("body", body)
        identity, seq, prior = body["identity"], body["seq"], body["prior"]
        if record.author == identity:
            raise SchemaError("a rotation is signed by a rotation key, not by the first key")
    else:
        raise SchemaError(f"{record.kind} is not a key event")
    new_key = body["key"]
    if new_key in (record.author, identity):
        raise SchemaError("body.key must be a new signing key (not the author nor the identity)")
    committed = body["next"]
    if committed in {next_digest(k) for k in (identity, record.author, new_key)}:
        raise SchemaError("body.next must commit to a new rotation key")
    problem = _consent_problem(new_key, body["key_sig"], consent_message(identity, seq))
    if problem is not None:
        raise SchemaError(f"body.key_sig: {did_from_raw(new_key)} did not consent: {problem}")
    return KeyEvent(record, identity, seq, prior, new_key, committed, body.get("cutoff"))


@lru_cache(maxsize=65_536)
def _consent_problem(key: bytes, signature: bytes, message: bytes) -> str | None:
    """Why a consent signature fails, or None. Cached: histories are computed again and again
    from the same events, and an Ed25519 verification is the costly part."""
    try:
        verify_raw(key, signature, message)
    except CryptoError as exc:
        return str(exc)
    return None


def inception(
    first: SigningKey,
    signing: SigningKey,
    next_rotation: PublicKey,
    created: int,
    cutoff: int | None = None,
) -> Record:
    """The inception of the identity ``first``: signing key ``signing``, next ``next_rotation``."""
    identity = first.public_key.raw
    body: dict[str, Any] = {
        "key": signing.public_key.raw,
        "key_sig": signing.sign(consent_message(identity, 0)),
        "next": next_digest(next_rotation.raw),
    }
    if cutoff is not None:
        body["cutoff"] = cutoff
    return sign_record(first, KEY_INCEPTION, created, body)


def rotation(
    rotation_key: SigningKey,
    signing: SigningKey,
    identity: bytes,
    seq: int,
    prior: bytes,
    next_rotation: PublicKey,
    created: int,
    cutoff: int | None = None,
) -> Record:
    """Step ``seq`` of ``identity``, made with the committed ``rotation_key``."""
    body: dict[str, Any] = {
        "identity": identity,
        "seq": seq,
        "prior": prior,
        "key": signing.public_key.raw,
        "key_sig": signing.sign(consent_message(identity, seq)),
        "next": next_digest(next_rotation.raw),
    }
    if cutoff is not None:
        body["cutoff"] = cutoff
    return sign_record(rotation_key, KEY_ROTATION, created, body)
