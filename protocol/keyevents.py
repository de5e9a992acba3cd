"""Key events (revision 3 proposal): the records that carry an identity's key succession.

An identity is the did:key of its **first key**. Two kinds of key event build its history:

- ``key.inception`` — authored by the first key. It names the first **signing key** (``key``)
  and commits to the SHA-256 of the first **rotation key** (``next``).
- ``key.rotation`` — authored by the rotation key that the previous event committed to. It
  names the identity, its step (``seq``), the previous event (``prior``), a fresh signing key
  and the commitment to the following rotation key.

Both are single-signer records (the author), so a revision-2 node stores and forwards them as
unknown kinds; revision 3 makes them known kinds (``protocol.keyschema``: refused at ingest when
malformed, not retractable). The new signing key consents to serve the identity with
``key_sig``: an Ed25519 signature over ``consent_message(identity, seq)``, so nobody can claim
somebody else's key.

This module checks one event on its own (``parse_event``: body schema, consent signature, the
rules that need no other record). ``protocol.keyhistory`` checks events against each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import PublicKey, SigningKey
from protocol.builder import sign_record
from protocol.errors import SchemaError
from protocol.keyschema import (
    CONSENT_PREFIX,
    KEY_EVENT_KINDS,
    KEY_INCEPTION,
    KEY_ROTATION,
    MAX_SEQ,
    consent_message,
    consent_problem,
    next_digest,
)
from protocol.kinds import KINDS
from protocol.record import Record

__all__ = [
    "CONSENT_PREFIX",
    "KEY_EVENT_KINDS",
    "KEY_INCEPTION",
    "KEY_ROTATION",
    "MAX_SEQ",
    "KeyEvent",
    "consent_message",
    "inception",
    "next_digest",
    "parse_event",
    "rotation",
]


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

    The kind table's schema and rules (``protocol.keyschema``: the body table, the signing key
    differs from the author and from the identity, ``next`` commits to a new key, a rotation is
    not signed by the first key) and the consent: ``key_sig`` verifies under ``key`` over
    ``consent_message(identity, seq)``. A node refuses an event failing any of these at ingest;
    this check stays for records read without validation (a bundle, a test's pool).
    """
    if record.kind not in KEY_EVENT_KINDS:
        raise SchemaError(f"{record.kind} is not a key event")
    body = record.body
    KINDS[record.kind].check_body(record.author, body)
    problem = consent_problem(record.kind, record.author, body)
    if problem is not None:
        raise SchemaError(problem)
    if record.kind == KEY_INCEPTION:
        identity, seq, prior = record.author, 0, None
    else:
        identity, seq, prior = body["identity"], body["seq"], body["prior"]
    return KeyEvent(record, identity, seq, prior, body["key"], body["next"], body.get("cutoff"))


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
