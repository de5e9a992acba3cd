"""Derived views: a pure function of the SET of records a node holds (PROTOCOL-v1 section 6).

``derive(records, now_ms)`` is the reference. A node's storage keeps the same views
incrementally and must equal it for the same set; the arrival order never matters. The input
is records that passed ``protocol.validate`` (at least the schema of their kind).

Rules:

- **Held** means a record with that id is in the set. Records with the same id are the same
  record: the first copy is kept (as a node keeps the first it accepts); views compare records
  by id, so which copy was kept never changes a view.
- **retract** is effective only when its target is held, the target's author equals the
  retract's author, and the target's kind is single-signer and neither ``alliance``,
  ``retract`` nor a key event (a retract of a retract, of an alliance or of a key event has
  no effect; key events are revision 3 proposal). Unknown kinds are
  single-signer, so their author can retract them. An effective retract erases the target: it
  appears only in ``tombstones`` and in no other view (nor in ``pending``, nor as a competitor
  of a replaceable kind, nor as an alliance end). A retract whose target is not held is pending
  on the target id; when the target arrives it is erased at once. A retract whose target is
  held but which is not effective has no effect, ever. Retracts themselves appear in no view
  besides causing tombstones.
- **Replaceable kinds**: ``org.profile`` and ``member.profile`` per author, ``opportunity`` per
  (author, ``slug``). The current version is the one with the greatest ``created`` among the
  versions not retracted; on equal ``created`` the greater id (bytes compare). Retracting the
  newest version makes the previous one current again; retracting all of them removes the
  entry. Opportunities are listed whatever their ``status``.
- **Alliances** are never erased. An alliance's end is, among the ``alliance.end`` records not
  retracted that name it, whose author is one of its two parties (the alliance's author,
  the org, and ``body.member``) and whose ``created`` is not before the alliance's, the one
  with the smallest ``created``, then the smaller id. An end by anyone else, or dated before
  its alliance, has no effect, ever. Its ``relation`` (omitted: ``member``) says who the other
  party is to the organisation: member, customer, supplier, shareholder or partner. An end
  naming an id not held is pending on it. An end naming a held record that is not an alliance
  has no effect. An alliance is in force while it has no end; its planned ``ends`` date does
  not end it.
- **Alumni**: for every ended alliance (any outcome) whose ``body.alumni`` is true,
  ``body.member`` is an alumnus of the alliance's author (the org). Orgs without alumni are
  absent.
- **Attestations** (not retracted) are listed by id. One is grounded when its body names an
  ``alliance``, a record with that id is held and is an alliance, and {alliance author,
  alliance member} == {attestation author, ``subject``}, and, for a ``tour.completed`` claim,
  that alliance's end has outcome ``completed``. It is expired when ``expires`` is
  present and ``expires <= now_ms``. State: ``expired`` if expired, else ``grounded`` or
  ``ungrounded``. An attestation naming an alliance id not held is pending on it (and is
  ungrounded until it arrives).
- **reply** (revision 2): the current reply per (author, target) is the newest not retracted
  (greatest ``created``, then greater id). It takes effect, and is listed in ``replies`` under
  its target's id, when the target is a live attestation whose ``subject`` is the reply's
  author, or a live ``alliance.end`` by a party of a held alliance whose other party is the
  reply's author. A reply to anything else has no effect, ever.
- **Pending** maps a referenced id that is not held to the ids of the records (not erased)
  waiting on it; the references that wait are the ``ref`` fields of ``protocol.kinds``:
  ``retract.target``, ``reply.target``, ``alliance.end.alliance`` and ``attestation.alliance``
  (``alliance.opportunity`` does not).
- **Unknown kinds** are kept and never interpreted: their ids (not retracted) are listed in
  ``unknown``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto import did_from_raw
from protocol.jsonview import to_json as record_to_json
from protocol.kinds import (
    ALLIANCE,
    ALLIANCE_END,
    ATTESTATION,
    DEFAULT_RELATION,
    KINDS,
    MEMBER_PROFILE,
    NOT_RETRACTABLE,
    OPPORTUNITY,
    ORG_PROFILE,
    REPLY,
    RETRACT,
    required_signers,
)
from protocol.record import Record

GROUNDED = "grounded"
UNGROUNDED = "ungrounded"
EXPIRED = "expired"
RETRACTED = "retracted"


@dataclass(frozen=True)
class Tombstone:
    """What stays of an erased record: its id and envelope, never its content."""

    id: bytes
    kind: str
    author: bytes
    created: int
    subject: bytes | None  # the subject of an attestation, else None

    @classmethod
    def of(cls, record: Record) -> Tombstone:
        subject = record.body.get("subject") if record.kind == ATTESTATION else None
        return cls(record.id, record.kind, record.author, record.created, subject)

    def to_json(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id.hex(),
            "kind": self.kind,
            "author": did_from_raw(self.author),
            "created": self.created,
            "retracted": True,
        }
        if self.subject is not None:
            view["subject"] = did_from_raw(self.subject)
        return view


@dataclass(frozen=True)
class AllianceState:
    """An alliance and the end that closed it, if any."""

    record: Record
    end: Record | None

    @property
    def in_force(self) -> bool:
        return self.end is None

    @property
    def outcome(self) -> str | None:
        return None if self.end is None else self.end.body["outcome"]

    @property
    def member(self) -> bytes:
        member: bytes = self.record.body["member"]
        return member

    @property
    def relation(self) -> str:
        return str(self.record.body.get("relation", DEFAULT_RELATION))

    @property
    def org(self) -> bytes:
        return self.record.author

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record.id.hex(),
            "org": did_from_raw(self.org),
            "member": did_from_raw(self.member),
            "relation": self.relation,
            "in_force": self.in_force,
            "outcome": self.outcome,
            "record": record_to_json(self.record),
            "end": None if self.end is None else record_to_json(self.end),
        }


@dataclass(frozen=True)
class AttestationState:
    """A live attestation with whether it is grounded in an alliance and whether it expired."""

    record: Record
    grounded: bool
    expired: bool

    @property
    def state(self) -> str:
        if self.expired:
            return EXPIRED
        return GROUNDED if self.grounded else UNGROUNDED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record.id.hex(),
            "state": self.state,
            "record": record_to_json(self.record),
        }


@dataclass(frozen=True)
class Views:
    """Everything derived from a set of records; plain values, equal for equal sets."""

    org_profiles: dict[bytes, Record]
    member_profiles: dict[bytes, Record]
    opportunities: dict[tuple[bytes, str], Record]
    alliances: dict[bytes, AllianceState]
    alumni: dict[bytes, frozenset[bytes]]
    attestations: dict[bytes, AttestationState]
    tombstones: dict[bytes, Tombstone]
    pending: dict[bytes, frozenset[bytes]]
    unknown: frozenset[bytes]
    replies: dict[bytes, Record]  # target id -> its current reply (revision 2)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: keys as did:key, ids as hex, every collection in a fixed order."""
        opportunities: dict[str, dict[str, Any]] = {}
        for (author, slug), record in sorted(self.opportunities.items()):
            opportunities.setdefault(did_from_raw(author), {})[slug] = record_to_json(record)
        return {
            "org_profiles": {
                did_from_raw(a): record_to_json(r) for a, r in sorted(self.org_profiles.items())
            },
            "member_profiles": {
                did_from_raw(a): record_to_json(r) for a, r in sorted(self.member_profiles.items())
            },
            "opportunities": opportunities,
            "alliances": {i.hex(): s.to_json() for i, s in sorted(self.alliances.items())},
            "alumni": {
                did_from_raw(org): [did_from_raw(m) for m in sorted(members)]
                for org, members in sorted(self.alumni.items())
            },
            "attestations": {i.hex(): s.to_json() for i, s in sorted(self.attestations.items())},
            "tombstones": {i.hex(): t.to_json() for i, t in sorted(self.tombstones.items())},
            "pending": {
                i.hex(): [w.hex() for w in sorted(waiting)]
                for i, waiting in sorted(self.pending.items())
            },
            "unknown": [i.hex() for i in sorted(self.unknown)],
            "replies": {t.hex(): record_to_json(r) for t, r in sorted(self.replies.items())},
        }


def retract_applies(retract: Record, target: Record) -> bool:
    """Whether ``retract`` erases ``target`` (both held): same author, single-signer kind."""
    return (
        target.author == retract.author
        and target.kind not in NOT_RETRACTABLE
        and required_signers(target.kind, target.author, target.body) == {target.author}
    )


def alliance_parties(alliance: Record) -> frozenset[bytes]:
    """The two parties of an alliance: its author (the org) and ``body.member``."""
    return frozenset((alliance.author, alliance.body["member"]))


def is_grounded(attestation: Record, alliances: dict[bytes, AllianceState]) -> bool:
    """Whether ``attestation`` names a held alliance between exactly its author and subject;
    a ``tour.completed`` claim also needs that alliance ended with outcome ``completed``."""
    state = alliances.get(attestation.body.get("alliance", b""))
    return (
        state is not None
        and alliance_parties(state.record) == {attestation.author, attestation.body["subject"]}
        and (attestation.body["claim"] != "tour.completed" or state.outcome == "completed")
    )


def reply_applies(reply: Record, target: Record, held: dict[bytes, Record]) -> bool:
    """Whether ``reply`` answers ``target`` (both live): the subject of an attestation, or the
    other party of an alliance whose end (by a party) the target is."""
    if target.kind == ATTESTATION:
        return bool(target.body["subject"] == reply.author)
    if target.kind == ALLIANCE_END:
        alliance = held.get(target.body["alliance"])
        return (
            alliance is not None
            and alliance.kind == ALLIANCE
            and target.author in alliance_parties(alliance)
            and reply.author in alliance_parties(alliance)
            and reply.author != target.author
        )
    return False


def is_expired(attestation: Record, now_ms: int) -> bool:
    expires = attestation.body.get("expires")
    return expires is not None and expires <= now_ms


def _newer(a: Record, b: Record | None) -> bool:
    return b is None or (a.created, a.id) > (b.created, b.id)


def _earlier(a: Record, b: Record | None) -> bool:
    return b is None or (a.created, a.id) < (b.created, b.id)


def derive(records: Iterable[Record], now_ms: int) -> Views:
    """The views of the set of ``records`` at time ``now_ms`` (see the module docstring)."""
    held: dict[bytes, Record] = {}
    for record in records:
        held.setdefault(record.id, record)

    pending: defaultdict[bytes, set[bytes]] = defaultdict(set)
    tombstones: dict[bytes, Tombstone] = {}
    for record in held.values():
        if record.kind != RETRACT:
            continue
        target_id = record.body["target"]
        target = held.get(target_id)
        if target is None:
            pending[target_id].add(record.id)
        elif retract_applies(record, target):
            tombstones[target_id] = Tombstone.of(target)

    org_profiles: dict[bytes, Record] = {}
    member_profiles: dict[bytes, Record] = {}
    opportunities: dict[tuple[bytes, str], Record] = {}
    alliances: dict[bytes, Record] = {}
    ends: dict[bytes, Record] = {}
    attesting: list[Record] = []
    replying: dict[tuple[bytes, bytes], Record] = {}
    unknown: set[bytes] = set()

    for record in held.values():
        if record.id in tombstones or record.kind == RETRACT:
            continue
        kind, body = record.kind, record.body
        if kind == ORG_PROFILE:
            if _newer(record, org_profiles.get(record.author)):
                org_profiles[record.author] = record
        elif kind == MEMBER_PROFILE:
            if _newer(record, member_profiles.get(record.author)):
                member_profiles[record.author] = record
        elif kind == OPPORTUNITY:
            slot = (record.author, body["slug"])
            if _newer(record, opportunities.get(slot)):
                opportunities[slot] = record
        elif kind == ALLIANCE:
            alliances[record.id] = record
        elif kind == ALLIANCE_END:
            alliance = held.get(body["alliance"])
            if alliance is None:
                pending[body["alliance"]].add(record.id)
            elif (
                alliance.kind == ALLIANCE
                and record.author in alliance_parties(alliance)
                and record.created >= alliance.created
                and _earlier(record, ends.get(alliance.id))
            ):
                ends[alliance.id] = record
        elif kind == ATTESTATION:
            if "alliance" in body and body["alliance"] not in held:
                pending[body["alliance"]].add(record.id)
            attesting.append(record)
        elif kind == REPLY:
            if body["target"] not in held:
                pending[body["target"]].add(record.id)
            slot = (record.author, body["target"])
            if _newer(record, replying.get(slot)):
                replying[slot] = record
        elif kind not in KINDS:
            unknown.add(record.id)

    states = {aid: AllianceState(a, ends.get(aid)) for aid, a in alliances.items()}
    attestations = {
        r.id: AttestationState(r, is_grounded(r, states), is_expired(r, now_ms)) for r in attesting
    }
    replies: dict[bytes, Record] = {}
    for (_, target_id), reply in replying.items():
        target = held.get(target_id)
        live = target is not None and target_id not in tombstones
        if live and target is not None and reply_applies(reply, target, held):
            replies[target_id] = reply
    alumni: defaultdict[bytes, set[bytes]] = defaultdict(set)
    for state in states.values():
        if not state.in_force and state.record.body["alumni"] is True:
            alumni[state.org].add(state.member)

    return Views(
        org_profiles=org_profiles,
        member_profiles=member_profiles,
        opportunities=opportunities,
        alliances=states,
        alumni={org: frozenset(members) for org, members in alumni.items()},
        attestations=attestations,
        tombstones=tombstones,
        pending={ref: frozenset(waiting) for ref, waiting in pending.items()},
        unknown=frozenset(unknown),
        replies=replies,
    )
