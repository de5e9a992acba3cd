"""The known record kinds of v1 (PROTOCOL-v1 section 5): body schemas and required signers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import SchemaError
from protocol.schema import (
    Check,
    Field,
    array,
    boolean,
    digest,
    integer,
    key,
    mapping,
    milliseconds,
    one_of,
    pattern,
    record_id,
    text,
)

ORG_PROFILE = "org.profile"
MEMBER_PROFILE = "member.profile"
OPPORTUNITY = "opportunity"
ALLIANCE = "alliance"
ALLIANCE_END = "alliance.end"
ATTESTATION = "attestation"
RETRACT = "retract"

TOURS = ("rotational", "transformational", "foundational")
OPPORTUNITY_STATUSES = ("open", "filled", "closed")
AUDIENCES = ("public", "alumni")
OUTCOMES = ("completed", "ended-early")
CLAIMS = ("tour.completed", "skill", "rating", "recommendation")

F = Field


def _opt(check: Check) -> Field:
    return Field(check, optional=True)


@dataclass(frozen=True)
class KindSpec:
    """What a known kind requires: its body fields, extra rules and co-signers."""

    name: str
    fields: Mapping[str, Field]
    rules: tuple[Callable[[bytes, dict[str, Any]], None], ...] = ()
    cosigners: Callable[[dict[str, Any]], tuple[bytes, ...]] = lambda body: ()
    check: Check = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", mapping(self.fields))

    def check_body(self, author: bytes, body: Any) -> None:
        self.check("body", body)
        for rule in self.rules:
            rule(author, body)


def _differs_from_author(key_name: str) -> Callable[[bytes, dict[str, Any]], None]:
    def rule(author: bytes, body: dict[str, Any]) -> None:
        if body[key_name] == author:
            raise SchemaError(f"body.{key_name} must differ from the author")

    return rule


def _attestation_requirements(author: bytes, body: dict[str, Any]) -> None:
    if body["claim"] == "skill" and "skill" not in body:
        raise SchemaError("body.skill is required when claim is skill")
    if body["claim"] == "rating" and "score" not in body:
        raise SchemaError("body.score is required when claim is rating")


_node = mapping({"url": F(text(2000)), "key": F(key)})

KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            ORG_PROFILE,
            {
                "name": F(text(200)),
                "about": _opt(text(4000)),
                "domain": _opt(text(253)),
                "nodes": _opt(array(_node, 16)),
            },
        ),
        KindSpec(
            MEMBER_PROFILE,
            {
                "name": _opt(text(200)),
                "about": _opt(text(4000)),
                "skills": _opt(array(text(64), 50)),
            },
        ),
        KindSpec(
            OPPORTUNITY,
            {
                "slug": F(pattern(r"[a-z0-9][a-z0-9-]{0,63}")),
                "title": F(text(200)),
                "tour": F(one_of(*TOURS)),
                "status": F(one_of(*OPPORTUNITY_STATUSES)),
                "summary": _opt(text(8000)),
                "skills": _opt(array(text(64), 32)),
                "location": _opt(text(200)),
                "remote": _opt(boolean),
                "starts": _opt(milliseconds),
                "weeks": _opt(integer(1, 520)),
                "compensation": _opt(text(200)),
                "audience": _opt(one_of(*AUDIENCES)),
            },
        ),
        KindSpec(
            ALLIANCE,
            {
                "member": F(key),
                "tour": F(one_of(*TOURS)),
                "mission": F(text(4000)),
                "starts": F(milliseconds),
                "ends": _opt(milliseconds),
                "opportunity": _opt(record_id),
                "org_commits": _opt(array(text(500), 32)),
                "member_commits": _opt(array(text(500), 32)),
                "terms": _opt(digest),
                "alumni": F(boolean),
            },
            rules=(_differs_from_author("member"),),
            cosigners=lambda body: (body["member"],),
        ),
        KindSpec(
            ALLIANCE_END,
            {
                "alliance": F(record_id),
                "outcome": F(one_of(*OUTCOMES)),
                "note": _opt(text(2000)),
            },
        ),
        KindSpec(
            ATTESTATION,
            {
                "subject": F(key),
                "claim": F(one_of(*CLAIMS)),
                "alliance": _opt(record_id),
                "skill": _opt(text(64)),
                "level": _opt(integer(1, 5)),
                "score": _opt(integer(1, 5)),
                "text": _opt(text(4000)),
                "expires": _opt(milliseconds),
            },
            rules=(_differs_from_author("subject"), _attestation_requirements),
        ),
        KindSpec(RETRACT, {"target": F(record_id), "reason": _opt(text(500))}),
    )
}

REPLACEABLE = frozenset({ORG_PROFILE, MEMBER_PROFILE, OPPORTUNITY})
NOT_RETRACTABLE = frozenset({ALLIANCE, RETRACT})  # alliances are ended; retracts are final


def required_signers(kind: str, author: bytes, body: dict[str, Any]) -> frozenset[bytes]:
    """The exact signer set of a record whose body already passed its schema."""
    spec = KINDS.get(kind)
    cosigners = spec.cosigners(body) if spec else ()
    return frozenset((author, *cosigners))
