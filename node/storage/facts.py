"""What the store writes beside a record: its index columns and its kind's facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.storage.facttables import FactInserts, facts_of
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


# table name -> INSERT statement, and the (table, row) of a record: both generated from the
# kinds' ``facts`` in the kind table (node/storage/facttables.py).
FACT_INSERTS: Mapping[str, str] = FactInserts()
__all__ = ["FACT_INSERTS", "RecordRow", "facts_of", "record_row"]
