"""Views by identity (revision 3 proposal): ``derive`` over records attributed by key history.

``derive_identities(records, now_ms)`` is a pure function of the SET of records:

1. ``key_histories`` reads the key events (``protocol.keyhistory``).
2. Every other record is **attributed**: its author, and the co-signing ``member`` of an
   alliance, must each speak for an identity at the record's ``created``. A record with a
   signer attributed to nobody (a retired key, a key after a fork, a contested key) is listed in
   ``unattributed`` and is, for every view, as if it were not held.
3. Each attributed record is seen **as its identity**: ``author`` becomes the identity, and the
   body fields that name a party (``member``, ``subject``) become the identity they name
   (``KeyHistories.resolve``). Id, signatures and wire bytes stay the record's own.
4. ``protocol.views.derive`` runs unchanged on those records, so every rule of the views holds
   per identity: replaceable slots per identity (a version signed with a newer key replaces one
   signed with an older key), retracts by the same identity, alliance parties, grounding,
   alumni and reputation by identity.

For a set without key events, every key is a plain identity and the views equal ``derive``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto import did_from_raw
from protocol.keyevents import KEY_EVENT_KINDS
from protocol.keyhistory import KeyHistories, key_histories
from protocol.kinds import ALLIANCE
from protocol.record import Record
from protocol.views import Views, derive

PARTY_FIELDS = ("member", "subject")  # body fields that name another identity


@dataclass(frozen=True)
class IdentityViews:
    """The key histories of a set, and its views with every party an identity."""

    keys: KeyHistories
    views: Views
    originals: dict[bytes, Record]  # id -> the record as signed, for every attributed record
    unattributed: frozenset[bytes]  # ids of records no identity speaks for (key events aside)

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": self.keys.to_json(),
            "views": self.views.to_json(),
            "unattributed": [i.hex() for i in sorted(self.unattributed)],
        }


def as_identity(record: Record, histories: KeyHistories) -> Record | None:
    """``record`` with its author and named parties replaced by identities, or None when a
    signer speaks for nobody at ``created`` (key events are never attributed)."""
    if record.kind in KEY_EVENT_KINDS:
        return None
    author = histories.identity_at(record.author, record.created)
    if author is None:
        return None
    body = record.body
    if record.kind == ALLIANCE and isinstance(body.get("member"), bytes):
        member = histories.identity_at(body["member"], record.created)
        if member is None or member == author:
            return None
        body = {**body, "member": member}
    for name in PARTY_FIELDS:
        value = body.get(name)
        if isinstance(value, bytes) and not (record.kind == ALLIANCE and name == "member"):
            body = {**body, name: histories.resolve(value)}
    if author == record.author and body is record.body:
        return record
    return Record(
        record.kind,
        author,
        record.created,
        body,
        record.sigs,
        record.wire,
        record.id,
        record.signing_input,
    )


def derive_identities(records: Iterable[Record], now_ms: int) -> IdentityViews:
    """The views of the set ``records`` by identity at ``now_ms`` (see the module docstring)."""
    held: dict[bytes, Record] = {}
    for record in records:
        held.setdefault(record.id, record)
    histories = key_histories(held.values())
    seen: list[Record] = []
    originals: dict[bytes, Record] = {}
    unattributed: set[bytes] = set()
    for record in held.values():
        if record.kind in KEY_EVENT_KINDS:
            continue
        proxy = as_identity(record, histories)
        if proxy is None:
            unattributed.add(record.id)
        else:
            seen.append(proxy)
            originals[record.id] = record
    return IdentityViews(histories, derive(seen, now_ms), originals, frozenset(unattributed))


def signer_of(views: IdentityViews, record_id: bytes) -> str | None:
    """The did:key that actually signed an attributed record (its author as signed)."""
    original = views.originals.get(record_id)
    return None if original is None else did_from_raw(original.author)
