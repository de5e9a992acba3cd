"""The known record kinds of v1 (PROTOCOL-v1 section 5, revision 2): one table, ``KINDS``.

Each kind's entry says everything the rest of the code derives from it: the body schema and
its extra rules, the co-signers, the replaceable slot (``slot``), the one body field that refers
to another record (``ref``: the storage index column and the views' pending references), the
body field naming the other party (``subject``: the storage index column), and whether its
author may retract it, and its *facts* (``facts``: the body values the stored views need, each
with its column type, how it is taken from the body and whether it is full-text searched).
Storage generates its fact tables, the rows written beside each record and the full-text
column lists from ``facts`` (node/storage/facttables.py); the sync index reads the rest. The
views (protocol/views.py) and their SQL twins (node/storage/schema.py) hold the meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.errors import SchemaError
from protocol.keyschema import (
    INCEPTION_FIELDS,
    KEY_INCEPTION,
    KEY_ROTATION,
    ROTATION_FIELDS,
    structure_rule,
)
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
REPLY = "reply"

TOURS = ("rotational", "transformational", "foundational")
OPPORTUNITY_STATUSES = ("open", "filled", "closed")
AUDIENCES = ("public", "alumni")
OUTCOMES = ("completed", "ended-early")
CLAIMS = ("tour.completed", "skill", "rating", "recommendation")
RELATIONS = ("member", "customer", "supplier", "shareholder", "partner")
DEFAULT_RELATION = "member"  # an alliance without ``relation``

F = Field


def _opt(check: Check) -> Field:
    return Field(check, optional=True)


def _no_slot(body: dict[str, Any]) -> str | None:
    return None


FactType = Literal["text", "integer", "bigint"]  # bigint: PostgreSQL BIGINT, SQLite INTEGER


@dataclass(frozen=True)
class Fact:
    """A body value a kind's stored views need: a column of the kind's fact table.

    ``take`` says how it is taken from the body (default: the body field of the same name, or
    ``default`` when the body lacks it); booleans are stored as 0/1. ``required`` makes the
    column NOT NULL; ``searched`` puts it in the full-text index; ``column_default`` is the
    column's SQL default (needed when the fact was added to a table already holding rows).
    """

    name: str
    type: FactType
    required: bool = True
    default: Any = None
    searched: bool = False
    take: Callable[[dict[str, Any]], Any] | None = None
    column_default: str | None = None

    def value(self, body: dict[str, Any]) -> Any:
        got = self.take(body) if self.take is not None else body.get(self.name, self.default)
        return int(got) if got.__class__ is bool else got


def _lines(name: str) -> Callable[[dict[str, Any]], str]:
    """A list of texts as one text, a line each."""
    return lambda body: "\n".join(body.get(name, []))


@dataclass(frozen=True)
class KindSpec:
    """A known kind: its body fields, extra rules, co-signers, and how storage indexes it.

    ``slot`` gives the replaceable slot of a body (None: not replaceable; the current version
    is kept per (kind, author, slot)); ``ref`` names the body field holding the id of the record
    it refers to (which it waits for while that is not held); ``subject`` names the body field
    holding the other party's key; ``retractable`` says whether its author may retract it.
    ``facts`` are the body values kept in the kind's fact table (``fact_table``), one column
    each beside the record's id.
    """

    name: str
    fields: Mapping[str, Field]
    rules: tuple[Callable[[bytes, dict[str, Any]], None], ...] = ()
    cosigners: Callable[[dict[str, Any]], tuple[bytes, ...]] = lambda body: ()
    slot: Callable[[dict[str, Any]], str | None] = _no_slot
    ref: str | None = None
    subject: str | None = None
    retractable: bool = True
    facts: tuple[Fact, ...] = ()
    facts_table: str = ""  # default: the kind's name with ``_`` for ``.``, then ``_facts``
    check: Check = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", mapping(self.fields))

    @property
    def fact_table(self) -> str:
        return self.facts_table or self.name.replace(".", "_") + "_facts"

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


def _web_url(name: str, value: Any) -> None:
    text(2000)(name, value)
    if not value.startswith(("http://", "https://")):
        raise SchemaError(f"{name} must start with http:// or https://, not {value[:40]!r}")


_node = mapping({"url": F(_web_url), "key": F(key)})

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
            slot=lambda body: "",
        ),
        KindSpec(
            MEMBER_PROFILE,
            {
                "name": _opt(text(200)),
                "about": _opt(text(4000)),
                "skills": _opt(array(text(64), 50)),
            },
            slot=lambda body: "",
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
            slot=lambda body: str(body["slug"]),
            facts=(
                Fact("title", "text", searched=True),
                Fact("summary", "text", default="", searched=True),
                Fact("skills", "text", take=_lines("skills"), searched=True),
                Fact("tour", "text"),
                Fact("status", "text"),
                Fact("remote", "integer", default=False),
                Fact("audience", "text", default="public"),
                Fact("location", "text", default=""),
            ),
        ),
        KindSpec(
            ALLIANCE,
            {
                "member": F(key),
                "relation": _opt(one_of(*RELATIONS)),
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
            subject="member",
            retractable=False,
            facts=(
                Fact("tour", "text"),
                Fact("alumni", "integer"),
                Fact("starts", "bigint"),
                Fact("relation", "text", default=DEFAULT_RELATION, column_default="'member'"),
            ),
        ),
        KindSpec(
            ALLIANCE_END,
            {
                "alliance": F(record_id),
                "outcome": F(one_of(*OUTCOMES)),
                "note": _opt(text(2000)),
            },
            ref="alliance",
            facts=(Fact("outcome", "text"),),
            facts_table="end_facts",
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
            ref="alliance",
            subject="subject",
            facts=(
                Fact("claim", "text"),
                Fact("skill", "text", required=False),
                Fact("level", "bigint", required=False),
                Fact("score", "bigint", required=False),
                Fact("expires", "bigint", required=False),
            ),
        ),
        KindSpec(
            RETRACT,
            {"target": F(record_id), "reason": _opt(text(500))},
            ref="target",
            retractable=False,
        ),
        KindSpec(
            REPLY,
            {"target": F(record_id), "text": F(text(4000))},
            slot=lambda body: bytes(body["target"]).hex(),
            ref="target",
        ),
        # Revision 3 proposal (docs/protocol.md section 15): key events. Their consent
        # signature (``key_sig``) is checked with the record's signatures (protocol/validate).
        KindSpec(
            KEY_INCEPTION,
            INCEPTION_FIELDS,
            rules=(structure_rule(KEY_INCEPTION),),
            retractable=False,
        ),
        KindSpec(
            KEY_ROTATION,
            ROTATION_FIELDS,
            rules=(structure_rule(KEY_ROTATION),),
            retractable=False,
        ),
    )
}

REPLACEABLE = frozenset(name for name, spec in KINDS.items() if spec.slot is not _no_slot)
# alliances are ended; retracts are final; key events are history (revision 3 proposal);
# unknown kinds are single-signer and retractable
NOT_RETRACTABLE = frozenset(name for name, spec in KINDS.items() if not spec.retractable)
REFERENCES: dict[str, str] = {name: spec.ref for name, spec in KINDS.items() if spec.ref}


def slot_of(kind: str, body: dict[str, Any]) -> str | None:
    """The replaceable slot of a record (None for kinds that are not replaceable)."""
    spec = KINDS.get(kind)
    return None if spec is None else spec.slot(body)


def ref_of(kind: str, body: dict[str, Any]) -> bytes | None:
    """The id a record refers to (and waits for), if its kind has such a field and it is set."""
    spec = KINDS.get(kind)
    return None if spec is None or spec.ref is None else body.get(spec.ref)


def subject_of(kind: str, body: dict[str, Any]) -> bytes | None:
    """The other party's key named in a record's body, for kinds that name one."""
    spec = KINDS.get(kind)
    return None if spec is None or spec.subject is None else body[spec.subject]


def required_signers(kind: str, author: bytes, body: dict[str, Any]) -> frozenset[bytes]:
    """The exact signer set of a record whose body already passed its schema."""
    spec = KINDS.get(kind)
    cosigners = spec.cosigners(body) if spec else ()
    return frozenset((author, *cosigners))
