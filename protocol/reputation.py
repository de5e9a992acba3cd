"""Reputation: what the attestations about one key say, computed from the derived views.

Rules:

- Every attestation ABOUT the subject (``body.subject``) is listed with its state:
  ``grounded``, ``ungrounded``, ``expired`` (precedence over the other two) from
  ``Views.attestations``, and ``retracted`` from ``Views.tombstones`` (id, issuer and created
  only: no content). The list is ordered by (created, id). A live entry carries the subject's
  current reply (``Views.replies``), shown as ``reply: {id, text, created}``.
- ``ungrounded`` repeats the ungrounded (live, not expired) ones as their own section; they
  are never counted.
- The ``summary`` counts only grounded attestations (so neither expired, nor retracted, nor
  ungrounded): grounded means the issuer and the subject are the two parties of an alliance,
  so a crowd of fresh keys cannot buy a reputation. It is keyed by (claim, ``body.skill`` or
  None). Each issuer counts once per key: its newest counted attestation (greatest
  ``created``, then greatest id) stands for it, so ``count`` equals ``issuers``.
- For ``rating`` the summary keeps the sum and count of ``score`` (a rational mean; the float
  ``mean_score`` is for display only). For ``skill`` it keeps the max, sum and count of
  ``level`` over the counted attestations that give one. Scores and levels of other claims
  are not interpreted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crypto import did_from_raw
from protocol.jsonview import to_json as record_to_json
from protocol.kinds import ATTESTATION
from protocol.record import Record
from protocol.views import GROUNDED, RETRACTED, UNGROUNDED, Views

SummaryKey = tuple[str, str | None]


@dataclass(frozen=True)
class AttestationEntry:
    """One attestation about the subject; ``record`` is None when it was retracted."""

    id: bytes
    issuer: bytes
    created: int
    state: str  # grounded | ungrounded | expired | retracted
    record: Record | None
    reply: Record | None = None  # the subject's current reply (revision 2)

    @property
    def claim(self) -> str | None:
        return None if self.record is None else self.record.body["claim"]

    @property
    def skill(self) -> str | None:
        return None if self.record is None else self.record.body.get("skill")

    def to_json(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id.hex(),
            "issuer": did_from_raw(self.issuer),
            "created": self.created,
            "state": self.state,
        }
        if self.record is not None:
            view["record"] = record_to_json(self.record)
        if self.reply is not None:
            view["reply"] = {
                "id": self.reply.id.hex(),
                "text": self.reply.body["text"],
                "created": self.reply.created,
            }
        return view


@dataclass(frozen=True)
class ClaimSummary:
    """The grounded, live attestations of one (claim, skill), one per issuer."""

    claim: str
    skill: str | None
    count: int  # attestations counted: one per issuer
    issuers: int  # distinct issuers
    score_sum: int = 0  # rating: sum of scores
    score_count: int = 0  # rating: number of scores
    level_max: int | None = None  # skill: highest level given
    level_sum: int = 0
    level_count: int = 0

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.score_count if self.score_count else None

    @property
    def mean_level(self) -> float | None:
        return self.level_sum / self.level_count if self.level_count else None

    def to_json(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "claim": self.claim,
            "skill": self.skill,
            "count": self.count,
            "issuers": self.issuers,
        }
        if self.score_count:
            view.update(
                score_sum=self.score_sum, score_count=self.score_count, mean_score=self.mean_score
            )
        if self.level_count:
            view.update(
                level_max=self.level_max,
                level_sum=self.level_sum,
                level_count=self.level_count,
                mean_level=self.mean_level,
            )
        return view


@dataclass(frozen=True)
class Reputation:
    """Every attestation about ``subject``, the ungrounded ones apart, and the summary."""

    subject: bytes
    attestations: tuple[AttestationEntry, ...]
    ungrounded: tuple[AttestationEntry, ...]
    summary: dict[SummaryKey, ClaimSummary]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": did_from_raw(self.subject),
            "attestations": [e.to_json() for e in self.attestations],
            "ungrounded": [e.to_json() for e in self.ungrounded],
            "summary": [
                self.summary[k].to_json()
                for k in sorted(self.summary, key=lambda k: (k[0], k[1] or ""))
            ],
        }


def reputation(views: Views, subject: bytes) -> Reputation:
    """The reputation of ``subject`` (a raw key) in ``views`` (see the module docstring)."""
    entries: list[AttestationEntry] = []
    for state in views.attestations.values():
        record = state.record
        if record.body["subject"] == subject:
            entries.append(
                AttestationEntry(
                    record.id,
                    record.author,
                    record.created,
                    state.state,
                    record,
                    views.replies.get(record.id),
                )
            )
    for tomb in views.tombstones.values():
        if tomb.kind == ATTESTATION and tomb.subject == subject:
            entries.append(AttestationEntry(tomb.id, tomb.author, tomb.created, RETRACTED, None))
    entries.sort(key=lambda e: (e.created, e.id))
    return Reputation(
        subject=subject,
        attestations=tuple(entries),
        ungrounded=tuple(e for e in entries if e.state == UNGROUNDED),
        summary=_summarise(
            e.record for e in entries if e.state == GROUNDED and e.record is not None
        ),
    )


def _summarise(records: Iterable[Record]) -> dict[SummaryKey, ClaimSummary]:
    newest: dict[SummaryKey, dict[bytes, Record]] = {}
    for record in records:
        key = (record.body["claim"], record.body.get("skill"))
        by_issuer = newest.setdefault(key, {})
        current = by_issuer.get(record.author)
        if current is None or (record.created, record.id) > (current.created, current.id):
            by_issuer[record.author] = record
    summary: dict[SummaryKey, ClaimSummary] = {}
    for (claim, skill), by_issuer in newest.items():
        counted = list(by_issuer.values())
        scores = [r.body["score"] for r in counted if claim == "rating" and "score" in r.body]
        levels = [r.body["level"] for r in counted if claim == "skill" and "level" in r.body]
        summary[(claim, skill)] = ClaimSummary(
            claim=claim,
            skill=skill,
            count=len(counted),
            issuers=len(by_issuer),
            score_sum=sum(scores),
            score_count=len(scores),
            level_max=max(levels) if levels else None,
            level_sum=sum(levels),
            level_count=len(levels),
        )
    return summary
