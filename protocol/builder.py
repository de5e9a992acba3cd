"""Drafting records: an author drafts, each party adds its signature, the builder finishes.

A draft is an ordinary record map whose signature list may still be incomplete, so it travels
in the same wire form (a node serves alliance drafts this way for the member to co-sign).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import CryptoError, SigningKey, did_from_raw
from crypto.keys import verify_raw
from protocol.encoding import MAX_RECORD_BYTES, decode
from protocol.errors import SchemaError, SignatureError, SizeError
from protocol.kinds import KINDS, required_signers
from protocol.record import Record, Signature, record_from_value, signing_input


class IncompleteRecord(SignatureError):
    """``finish`` was called while required signatures are still missing."""


@dataclass(frozen=True)
class Draft:
    """A record being signed: core fields plus the signatures collected so far."""

    kind: str
    author: bytes
    created: int
    body: dict[str, Any]
    sigs: tuple[Signature, ...] = ()

    @classmethod
    def new(cls, kind: str, author: bytes, created: int, body: dict[str, Any]) -> Draft:
        """Start a draft; the body is checked against its kind's schema right away."""
        spec = KINDS.get(kind)
        signing_input(kind, author, created, body)  # section 2 rules, depth counted from the record
        if spec is not None:
            spec.check_body(author, body)
        return cls(kind, author, created, body)

    @classmethod
    def from_wire(cls, data: bytes) -> Draft:
        """Read a (possibly partially signed) record; every signature present must verify."""
        record = record_from_value(decode(data), data)
        draft = cls(record.kind, record.author, record.created, record.body, record.sigs)
        required = draft.required_signers
        for signer, signature in record.sigs:
            if signer not in required:
                raise SignatureError(f"{did_from_raw(signer)} is not a signer of this record")
            _verify(signer, signature, draft.signing_input)
        return draft

    @property
    def signing_input(self) -> bytes:
        return signing_input(self.kind, self.author, self.created, self.body)

    @property
    def id(self) -> bytes:
        return Record.build(self.kind, self.author, self.created, self.body, ()).id

    @property
    def required_signers(self) -> frozenset[bytes]:
        return required_signers(self.kind, self.author, self.body)

    @property
    def missing_signers(self) -> frozenset[bytes]:
        return self.required_signers - {k for k, _ in self.sigs}

    @property
    def wire(self) -> bytes:
        """The draft in record wire form, with the signatures collected so far."""
        return self.to_record().wire

    def sign(self, key: SigningKey) -> Draft:
        """Return a draft with ``key``'s signature added; the key must be a required signer."""
        signer = key.public_key.raw
        if signer not in self.required_signers:
            raise SchemaError(f"{key.public_key.did} is not a required signer of this {self.kind}")
        others = tuple(s for s in self.sigs if s[0] != signer)
        signature = key.sign(self.signing_input)
        return Draft(
            self.kind,
            self.author,
            self.created,
            self.body,
            tuple(sorted((*others, (signer, signature)))),
        )

    def add_signature(self, signer: bytes, signature: bytes) -> Draft:
        """Add a signature made elsewhere, after verifying it."""
        if signer not in self.required_signers:
            raise SignatureError(f"{did_from_raw(signer)} is not a signer of this record")
        _verify(signer, signature, self.signing_input)
        others = tuple(s for s in self.sigs if s[0] != signer)
        return Draft(
            self.kind,
            self.author,
            self.created,
            self.body,
            tuple(sorted((*others, (signer, signature)))),
        )

    def to_record(self) -> Record:
        record = Record.build(self.kind, self.author, self.created, self.body, self.sigs)
        if len(record.wire) > MAX_RECORD_BYTES:
            raise SizeError(f"record would be {len(record.wire)} bytes, over {MAX_RECORD_BYTES}")
        return record

    def finish(self) -> Record:
        """The complete record; raises ``IncompleteRecord`` naming whoever has not signed."""
        missing = self.missing_signers
        if missing:
            names = ", ".join(did_from_raw(k) for k in sorted(missing))
            raise IncompleteRecord(f"still to sign: {names}")
        return self.to_record()


def _verify(signer: bytes, signature: bytes, message: bytes) -> None:
    try:
        verify_raw(signer, signature, message)
    except CryptoError as exc:
        raise SignatureError(f"signature by {did_from_raw(signer)}: {exc}") from None


def sign_record(key: SigningKey, kind: str, created: int, body: dict[str, Any]) -> Record:
    """Draft, sign and finish a single-signer record in one call."""
    return Draft.new(kind, key.public_key.raw, created, body).sign(key).finish()
