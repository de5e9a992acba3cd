"""Portable reputation bundles: one file a member carries, checkable with no network at all.

A bundle is JSON (UTF-8)::

    {"rakuichi_bundle": 2, "subject": "did:key:...",
     "records": [{"wire": "<hex of wire bytes>", "view": {JSON view}}, ...]}

Each record carries its JSON view (``protocol.jsonview``) beside its wire bytes so that a person
can read the file; the wire bytes are what counts, and a view that is not exactly the view of
its wire bytes makes that record refused (class ``view``). Format 1 (``"records"`` a list of hex
strings, no views) is still read.

It holds the chosen attestations about ``subject`` and what checking them needs: the alliances
they rest on, those alliances' ends, the issuers' profiles, any retracts known, and the key
events of every identity involved (revision 3 proposal). Checking a bundle validates every
record (PROTOCOL-v1 section 4), computes the key histories of exactly that set, checks that each
record was signed by a key that spoke for an identity when it was signed (else it is refused
with class ``key``), and derives the views by identity. One refused record makes the whole
bundle refused: it is reported by position, kind and id, and nothing of the bundle is counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crypto import InvalidDid, did_from_raw, raw_from_did
from protocol import kinds
from protocol.errors import Rejected
from protocol.identityviews import derive_identities
from protocol.jsonview import to_json
from protocol.record import Record
from protocol.reputation import Reputation, reputation
from protocol.validate import parse, validate

FORMAT = 2
FORMATS = (1, 2)
VIEW_CLASS = "view"  # the JSON view beside a record is not the view of its wire bytes
KEY_CLASS = "key"  # a valid record whose signer did not speak for an identity at its time
MAX_BUNDLE_RECORDS = 10_000


class BundleError(Exception):
    """The file is not a bundle at all (not JSON, wrong format, bad subject)."""


def write_bundle(subject: bytes, records: Iterable[Record]) -> bytes:
    unique = {r.id: r for r in records}
    ordered = sorted(unique.values(), key=lambda r: (r.created, r.id))
    return json.dumps(
        {
            "rakuichi_bundle": FORMAT,
            "subject": did_from_raw(subject),
            "records": [{"wire": r.wire.hex(), "view": to_json(r)} for r in ordered],
        },
        indent=1,
    ).encode()


def read_bundle(data: bytes) -> tuple[bytes, list[bytes]]:
    """The subject key and the records' wire bytes of a bundle file."""
    subject, entries = read_entries(data)
    return subject, [wire for wire, _ in entries]


def read_entries(data: bytes) -> tuple[bytes, list[tuple[bytes, Any]]]:
    """The subject key and, per record, its wire bytes and the view beside them (or None)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"not a bundle: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("rakuichi_bundle") not in FORMATS:
        raise BundleError(f"not a bundle: rakuichi_bundle must be one of {FORMATS}")
    try:
        subject = raw_from_did(doc.get("subject", ""))
    except InvalidDid as exc:
        raise BundleError(f"bundle subject: {exc}") from None
    records = doc.get("records")
    if not isinstance(records, list) or len(records) > MAX_BUNDLE_RECORDS:
        raise BundleError(f"bundle records must be a list of at most {MAX_BUNDLE_RECORDS}")
    entries: list[tuple[bytes, Any]] = []
    for i, item in enumerate(records):
        view = None
        if isinstance(item, dict):
            view = item.get("view")
            item = item.get("wire")
        try:
            entries.append((bytes.fromhex(item), view))
        except (TypeError, ValueError):
            raise BundleError(f"bundle record #{i + 1} is not hex") from None
    return subject, entries


@dataclass(frozen=True)
class Refused:
    """A record of the bundle that does not check, named by position, kind and id if known."""

    position: int
    kind: str | None
    id: bytes | None
    klass: str
    detail: str

    def describe(self) -> str:
        what = f"record #{self.position}"
        if self.kind:
            what += f" ({self.kind}"
            what += f" {self.id.hex()})" if self.id else ")"
        return f"{what} refused: {self.klass}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind,
            "id": self.id.hex() if self.id else None,
            "class": self.klass,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class BundleReport:
    subject: bytes
    records: int
    refused: tuple[Refused, ...]
    reputation: Reputation | None  # None when any record is refused: nothing counts
    issuer_names: dict[bytes, str] = field(default_factory=dict)
    retracted: tuple[tuple[bytes, bytes], ...] = ()  # (target id, issuer) of held retracts

    @property
    def ok(self) -> bool:
        return not self.refused

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": did_from_raw(self.subject),
            "ok": self.ok,
            "records": self.records,
            "refused": [r.to_json() for r in self.refused],
            "reputation": self.reputation.to_json() if self.reputation else None,
            "issuers": {did_from_raw(k): v for k, v in sorted(self.issuer_names.items())},
            "retracted": [{"id": t.hex(), "issuer": did_from_raw(a)} for t, a in self.retracted],
        }


def verify_bundle(data: bytes, now_ms: int) -> BundleReport:
    """Check a bundle offline at time ``now_ms``; raises ``BundleError`` for a non-bundle."""
    subject, entries = read_entries(data)
    wires = [wire for wire, _ in entries]
    records: list[Record] = []
    refused: list[Refused] = []
    for position, (wire, view) in enumerate(entries, start=1):
        try:
            record = validate(wire, now_ms)
        except Rejected as exc:
            kind, rid = _identify(wire)
            refused.append(Refused(position, kind, rid, exc.klass, exc.detail))
            continue
        records.append(record)
        if view is not None and view != to_json(record):
            detail = "the JSON view beside the record is not what its wire bytes say"
            refused.append(Refused(position, record.kind, record.id, VIEW_CLASS, detail))
    if refused:
        return BundleReport(subject, len(wires), tuple(refused), None)
    by_identity = derive_identities(records, now_ms)
    for position, record in enumerate(records, start=1):
        if record.id in by_identity.unattributed:
            detail = "signed by a key that spoke for no identity when it was signed"
            refused.append(Refused(position, record.kind, record.id, KEY_CLASS, detail))
    if refused:
        return BundleReport(subject, len(wires), tuple(refused), None)
    views = by_identity.views
    subject = by_identity.keys.resolve(subject)
    names = {
        author: r.body.get("name", "")
        for author, r in (*views.org_profiles.items(), *views.member_profiles.items())
    }
    held = {r.id for r in records}
    retracted = tuple(
        sorted(
            (r.body["target"], by_identity.keys.identity_at(r.author, r.created) or r.author)
            for r in records
            if r.kind == kinds.RETRACT and r.body["target"] not in held
        )
    )
    return BundleReport(
        subject,
        len(wires),
        (),
        reputation(views, subject),
        {k: v for k, v in names.items() if v},
        retracted,
    )


def _identify(wire: bytes) -> tuple[str | None, bytes | None]:
    """Kind and id of a refused record when its envelope still parses."""
    try:
        record = parse(wire)
    except Rejected:
        return None, None
    return record.kind, record.id
