"""Signing realistic records of every kind, for node and federation tests.

Every builder takes the signing key(s) and ``created`` (ms) and returns a finished, valid
``Record``; optional body fields are passed as keyword arguments. ``Cast`` is a set of actors
with fresh keys (or keys derived from a label, when a test needs the same ids every run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from crypto import SigningKey, did_from_raw, sha256
from node.service import Node
from protocol import kinds
from protocol.builder import Draft, sign_record
from protocol.record import Record

Target = Record | bytes  # a record, or the id of one


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fresh_key() -> SigningKey:
    return SigningKey.generate()


def seeded_key(label: str) -> SigningKey:
    """The same key for the same label, every run."""
    return SigningKey.from_seed(sha256(f"rakuichi-test-key:{label}".encode()))


def raw(key: SigningKey | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.public_key.raw


def did(key: SigningKey) -> str:
    return key.public_key.did


def org_did(node: Node) -> str:
    """The did:key of a node's organisation (its identity)."""
    return did_from_raw(node.org_identity)


def _id(target: Target) -> bytes:
    return target.id if isinstance(target, Record) else target


def org_profile(key: SigningKey, created: int, name: str = "Director Bank", **extra: Any) -> Record:
    return sign_record(key, kinds.ORG_PROFILE, created, {"name": name, **extra})


def member_profile(key: SigningKey, created: int, name: str = "Aiko", **extra: Any) -> Record:
    return sign_record(key, kinds.MEMBER_PROFILE, created, {"name": name, **extra})


def opportunity(
    key: SigningKey,
    created: int,
    slug: str = "web-director",
    title: str = "Web director",
    tour: str = "transformational",
    status: str = "open",
    **extra: Any,
) -> Record:
    body = {"slug": slug, "title": title, "tour": tour, "status": status, **extra}
    return sign_record(key, kinds.OPPORTUNITY, created, body)


def alliance(
    org: SigningKey,
    member: SigningKey,
    created: int,
    alumni: bool = True,
    tour: str = "transformational",
    mission: str = "Relaunch the EC site.",
    **extra: Any,
) -> Record:
    """An alliance co-signed by the organisation (author) and the member."""
    body = {
        "member": raw(member),
        "tour": tour,
        "mission": mission,
        "starts": created,
        "alumni": alumni,
        **extra,
    }
    return Draft.new(kinds.ALLIANCE, raw(org), created, body).sign(org).sign(member).finish()


def alliance_end(
    key: SigningKey, target: Target, created: int, outcome: str = "completed", **extra: Any
) -> Record:
    body = {"alliance": _id(target), "outcome": outcome, **extra}
    return sign_record(key, kinds.ALLIANCE_END, created, body)


def attestation(
    key: SigningKey,
    subject: SigningKey | bytes,
    created: int,
    claim: str = "tour.completed",
    grounded_in: Target | None = None,
    **extra: Any,
) -> Record:
    body: dict[str, Any] = {"subject": raw(subject), "claim": claim, **extra}
    if grounded_in is not None:
        body["alliance"] = _id(grounded_in)
    if claim == "skill":
        body.setdefault("skill", "ux")
    if claim == "rating":
        body.setdefault("score", 4)
    return sign_record(key, kinds.ATTESTATION, created, body)


def retract(key: SigningKey, target: Target, created: int, **extra: Any) -> Record:
    return sign_record(key, kinds.RETRACT, created, {"target": _id(target), **extra})


def reply(key: SigningKey, target: Target, created: int, text: str = "Thank you.") -> Record:
    """The right of reply: an answer to an attestation about ``key`` or to an end of an
    alliance that the other party closed."""
    return sign_record(key, kinds.REPLY, created, {"target": _id(target), "text": text})


def unknown_kind(key: SigningKey, created: int, kind: str = "x.custom-note", **body: Any) -> Record:
    assert kind not in kinds.KINDS
    return sign_record(key, kind, created, body or {"note": "kept, never interpreted"})


def wires(records: list[Record]) -> list[bytes]:
    return [r.wire for r in records]


@dataclass(frozen=True)
class Cast:
    """The actors of a scenario: two organisations, two members and an outsider."""

    org: SigningKey
    org_b: SigningKey
    member: SigningKey
    member_b: SigningKey
    outsider: SigningKey

    @classmethod
    def fresh(cls) -> Cast:
        return cls(*(fresh_key() for _ in range(5)))

    @classmethod
    def seeded(cls, label: str) -> Cast:
        return cls(
            *(
                seeded_key(f"{label}:{role}")
                for role in ("org", "org_b", "member", "member_b", "outsider")
            )
        )


def one_of_every_kind(cast: Cast, t0: int) -> list[Record]:
    """A small, consistent history: profiles, an opportunity, an alliance that ended with
    attestations both ways, a retracted attestation and an unknown kind (in causal order)."""
    opp = opportunity(cast.org, t0 + 1, skills=["direction", "ux"], remote=True, weeks=24)
    agreed = alliance(cast.org, cast.member, t0 + 2, opportunity=opp.id)
    mistaken = attestation(cast.org, cast.member, t0 + 4, "skill", agreed, skill="ux", level=2)
    rating = attestation(cast.member, cast.org, t0 + 5, "rating", agreed, score=5)
    return [
        org_profile(cast.org, t0, "Director Bank"),
        member_profile(cast.member, t0, "Aiko", skills=["ux"]),
        opp,
        agreed,
        alliance_end(cast.member, agreed, t0 + 3),
        attestation(cast.org, cast.member, t0 + 4, "tour.completed", agreed),
        mistaken,
        rating,
        retract(cast.org, mistaken, t0 + 6, reason="issued in error"),
        reply(cast.org, rating, t0 + 6, "Thank you; we keep the weekly demos."),
        unknown_kind(cast.org_b, t0 + 7),
    ]
