"""The record (PROTOCOL-v1 section 3): a frozen value with its core, signing input and id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crypto import did_from_raw, sha256
from protocol.encoding import MAX_RECORD_BYTES, encode
from protocol.errors import SchemaError
from protocol.kinds import KINDS

PROTOCOL_VERSION = 1
SIGNING_PREFIX = b"rakuichi-record-v1\x00"
KIND_PATTERN = re.compile(r"[a-z][a-z0-9.-]{0,63}")
ENVELOPE_KEYS = frozenset({"v", "kind", "author", "created", "body", "sigs"})

Signature = tuple[bytes, bytes]  # (signer key, 64-byte signature)


def signing_input(kind: str, author: bytes, created: int, body: dict[str, Any]) -> bytes:
    """``b"rakuichi-record-v1\\x00"`` + canonical encoding of the core (the record without sigs)."""
    core = {"author": author, "body": body, "created": created, "kind": kind, "v": PROTOCOL_VERSION}
    return SIGNING_PREFIX + encode(core)


@dataclass(frozen=True, eq=False, slots=True)
class Record:
    """A record as it travels: envelope fields, its exact wire bytes and its id.

    Records with the same id are the same record (the id does not cover signatures), so
    equality and hashing go by id. The body is a plain dict: treat it as read-only.
    """

    kind: str
    author: bytes
    created: int
    body: dict[str, Any]
    sigs: tuple[Signature, ...]
    wire: bytes = field(repr=False)
    id: bytes = field(repr=False)
    signing_input: bytes = field(repr=False)

    @classmethod
    def build(
        cls,
        kind: str,
        author: bytes,
        created: int,
        body: dict[str, Any],
        sigs: tuple[Signature, ...] | list[Signature],
    ) -> Record:
        """Assemble a record from its parts (signatures sorted by signer key)."""
        ordered = tuple(sorted((bytes(k), bytes(s)) for k, s in sigs))
        wire = encode(
            {
                "author": author,
                "body": body,
                "created": created,
                "kind": kind,
                "sigs": [list(pair) for pair in ordered],
                "v": PROTOCOL_VERSION,
            }
        )
        core = signing_input(kind, author, created, body)
        return cls(kind, author, created, body, ordered, wire, sha256(core), core)

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def author_did(self) -> str:
        return did_from_raw(self.author)

    @property
    def signers(self) -> tuple[bytes, ...]:
        return tuple(k for k, _ in self.sigs)

    @property
    def is_known_kind(self) -> bool:
        return self.kind in KINDS

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Record({self.kind} {self.id.hex()[:12]} by {self.author_did[-8:]})"


def record_from_value(value: Any, wire: bytes) -> Record:
    """Check the envelope (section 4 step 3) of a decoded value and the body schema of its kind.

    Signatures are checked for shape here and verified in ``validate``.
    """
    if not isinstance(value, dict):
        raise SchemaError("a record is a map")
    if value.keys() != ENVELOPE_KEYS:
        missing = ENVELOPE_KEYS - value.keys()
        if missing:
            raise SchemaError(f"record is missing key(s): {', '.join(sorted(missing))}")
        extra = value.keys() - ENVELOPE_KEYS
        raise SchemaError(f"record has unknown key(s): {', '.join(sorted(extra))}")
    v, kind, author, created = value["v"], value["kind"], value["author"], value["created"]
    body, sigs = value["body"], value["sigs"]
    if v != PROTOCOL_VERSION or isinstance(v, bool):
        raise SchemaError(f"v must be {PROTOCOL_VERSION}, not {v!r:.20}")
    if type(kind) is not str or (kind not in KINDS and not KIND_PATTERN.fullmatch(kind)):
        raise SchemaError(f"kind must match ^[a-z][a-z0-9.-]{{0,63}}$, not {kind!r:.80}")
    if not isinstance(author, bytes) or len(author) != 32:
        raise SchemaError("author must be a 32-byte public key")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise SchemaError("created must be a non-negative integer (milliseconds)")
    if not isinstance(body, dict):
        raise SchemaError("body must be a map")
    spec = KINDS.get(kind)
    if spec is not None:
        spec.check_body(author, body)
    pairs = _signature_pairs(sigs)
    core = _core_of_wire(wire, len(pairs)) or signing_input(kind, author, created, body)
    return Record(kind, author, created, body, pairs, wire, sha256(core), core)


def record_from_trusted(value: dict[str, Any], wire: bytes, rid: bytes) -> Record:
    """A record from wire bytes that passed validation before (a node's own store): no checks."""
    pairs = tuple((key, sig) for key, sig in value["sigs"])
    kind, author, created, body = value["kind"], value["author"], value["created"], value["body"]
    core = _core_of_wire(wire, len(pairs)) or signing_input(kind, author, created, body)
    return Record(kind, author, created, body, pairs, wire, rid, core)


_SIGS_KEY = b"\xa4sigs"
_V1_ENTRY = b"\xa1v\x01"
_SIG_PAIR_BYTES = 101  # fixarray(2), bin8 header + 32-byte key, bin8 header + 64-byte signature


def _core_of_wire(wire: bytes, signatures: int) -> bytes | None:
    """The signing input cut straight from canonical wire bytes, without encoding again.

    The record map's keys sort as author, body, created, kind, sigs, v, and v is 1, so the core
    is the same bytes with the map header saying 5 entries and the sigs entry left out. Returns
    None for any shape this does not recognise (the caller then encodes the core).
    """
    header = 1 if signatures < 16 else 3
    sigs_start = len(wire) - len(_V1_ENTRY) - header - _SIG_PAIR_BYTES * signatures
    key_start = sigs_start - len(_SIGS_KEY)
    if (
        not wire.startswith(b"\x86")
        or not wire.endswith(_V1_ENTRY)
        or key_start < 1
        or wire[key_start:sigs_start] != _SIGS_KEY
    ):
        return None
    return SIGNING_PREFIX + b"\x85" + wire[1:key_start] + _V1_ENTRY


def _signature_pairs(sigs: Any) -> tuple[Signature, ...]:
    if not isinstance(sigs, list):
        raise SchemaError("sigs must be an array")
    pairs = []
    for i, pair in enumerate(sigs):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], bytes)
            or len(pair[0]) != 32
            or not isinstance(pair[1], bytes)
            or len(pair[1]) != 64
        ):
            raise SchemaError(f"sigs[{i}] must be [signer key (32 bytes), signature (64 bytes)]")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


assert MAX_RECORD_BYTES == 65_536
