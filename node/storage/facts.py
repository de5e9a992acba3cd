"""What the store writes beside a record: its index columns and its kind's facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.storage.keycolumns import key_column
from protocol import Record, kinds


@dataclass(frozen=True, slots=True)
class RecordRow:
    """The ``records`` row of a record (index columns only; the wire bytes carry the rest)."""

    id: bytes
    kind: str
    author: bytes
    created: int
    subject: bytes | None
    ref: bytes | None
    slot: str | None
    wire: bytes

    def params(self, received: int, origin: bytes | None) -> tuple[Any, ...]:
        return (
            self.id,
            self.kind,
            self.author,
            self.created,
            self.subject,
            self.ref,
            self.slot,
            self.wire,
            received,
            key_column(origin),
        )


def record_row(record: Record) -> RecordRow:
    """Index columns from the kind's table entry (``protocol.kinds.KINDS``)."""
    kind, body = record.kind, record.body
    return RecordRow(
        record.id,
        kind,
        record.author,
        record.created,
        kinds.subject_of(kind, body),
        kinds.ref_of(kind, body),
        kinds.slot_of(kind, body),
        record.wire,
    )


# table name -> INSERT statement; facts_of() yields (table, params) pairs.
FACT_INSERTS: dict[str, str] = {
    "opportunity_facts": (
        "INSERT OR IGNORE INTO opportunity_facts (id, title, summary, skills, tour, status,"
        " remote, audience, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "alliance_facts": (
        "INSERT OR IGNORE INTO alliance_facts (id, tour, alumni, starts, relation)"
        " VALUES (?, ?, ?, ?, ?)"
    ),
    "end_facts": "INSERT OR IGNORE INTO end_facts (id, outcome) VALUES (?, ?)",
    "attestation_facts": (
        "INSERT OR IGNORE INTO attestation_facts (id, claim, skill, level, score, expires)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    ),
}


def facts_of(record: Record) -> tuple[str, tuple[Any, ...]] | None:
    body = record.body
    if record.kind == kinds.OPPORTUNITY:
        return "opportunity_facts", (
            record.id,
            body["title"],
            body.get("summary", ""),
            "\n".join(body.get("skills", [])),
            body["tour"],
            body["status"],
            int(body.get("remote", False)),
            body.get("audience", "public"),
            body.get("location", ""),
        )
    if record.kind == kinds.ALLIANCE:
        relation = body.get("relation", kinds.DEFAULT_RELATION)
        return "alliance_facts", (
            record.id,
            body["tour"],
            int(body["alumni"]),
            body["starts"],
            relation,
        )
    if record.kind == kinds.ALLIANCE_END:
        return "end_facts", (record.id, body["outcome"])
    if record.kind == kinds.ATTESTATION:
        return "attestation_facts", (
            record.id,
            body["claim"],
            body.get("skill"),
            body.get("level"),
            body.get("score"),
            body.get("expires"),
        )
    return None
