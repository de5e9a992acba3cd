"""Reads of a key's reputation from the stored summaries (summaries.py), each bounded by a
page: the grounded summary without reading one record, and pages of attestations about a key
with only that page's records unpacked.

Expiry is the reader's clock: a (claim, skill) whose standing attestation of some issuer has
expired is summed from the base rows (``attestations``) for that key; the rest is read whole.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from node.storage.board_queries import trusted
from node.storage.replies import replies_to
from protocol import (
    EXPIRED,
    GROUNDED,
    RETRACTED,
    UNGROUNDED,
    AttestationEntry,
    ClaimSummary,
    SummaryKey,
    kinds,
)

_STORED = (
    "SELECT s.claim, s.skill, s.n, s.score_sum, s.score_count, s.level_sum, s.level_count,"
    " (SELECT max(t.level) FROM reputation_standing t WHERE t.subject = s.subject"
    "  AND t.claim = s.claim AND t.skill = s.skill)"
    " FROM reputation_summary s WHERE s.subject = ?"
)
_EXPIRED_KEYS = (
    "SELECT DISTINCT claim, skill FROM reputation_standing"
    " WHERE subject = ? AND expires IS NOT NULL AND expires <= ?"
)
# each issuer's newest counted (grounded, not expired) attestation, from the base rows
_COUNTED_NOW = (
    "SELECT claim, skill, score, level FROM ("
    " SELECT claim, coalesce(skill, '') AS skill,"
    "  CASE WHEN claim = 'rating' THEN score END AS score,"
    "  CASE WHEN claim = 'skill' THEN level END AS level,"
    "  row_number() OVER (PARTITION BY claim, coalesce(skill, ''), issuer"
    "                     ORDER BY created DESC, id DESC) AS newest"
    " FROM attestations WHERE subject = ? AND grounded = 1"
    "  AND (expires IS NULL OR expires > ?)) ranked WHERE newest = 1"
)


def _key(claim: str, skill: str) -> SummaryKey:
    return (claim, skill or None)


async def reputation_summary(
    db: aiosqlite.Connection, subject: bytes, now_ms: int
) -> dict[SummaryKey, ClaimSummary]:
    """``protocol.reputation``'s summary of ``subject`` at ``now_ms``, from the stored one."""
    summary: dict[SummaryKey, ClaimSummary] = {}
    for claim, skill, n, s_sum, s_count, l_sum, l_count, l_max in await db.execute_fetchall(
        _STORED, (subject,)
    ):
        summary[_key(claim, skill)] = ClaimSummary(
            claim, skill or None, n, n, s_sum, s_count, l_max, l_sum, l_count
        )
    stale = {_key(c, s) for c, s in await db.execute_fetchall(_EXPIRED_KEYS, (subject, now_ms))}
    if stale:
        for key in stale:
            summary.pop(key, None)
        summary.update(await _summed_now(db, subject, now_ms, stale))
    return summary


async def _summed_now(
    db: aiosqlite.Connection, subject: bytes, now_ms: int, keys: set[SummaryKey]
) -> dict[SummaryKey, ClaimSummary]:
    counted: dict[SummaryKey, list[tuple[int | None, int | None]]] = {}
    for claim, skill, score, level in await db.execute_fetchall(_COUNTED_NOW, (subject, now_ms)):
        if _key(claim, skill) in keys:
            counted.setdefault(_key(claim, skill), []).append((score, level))
    out: dict[SummaryKey, ClaimSummary] = {}
    for (claim, skill), items in counted.items():
        scores = [s for s, _ in items if s is not None]
        levels = [v for _, v in items if v is not None]
        out[(claim, skill)] = ClaimSummary(
            claim,
            skill,
            len(items),
            len(items),
            sum(scores),
            len(scores),
            max(levels) if levels else None,
            sum(levels),
            len(levels),
        )
    return out


def _state(grounded: int, expires: int | None, now_ms: int) -> str:
    if expires is not None and expires <= now_ms:
        return EXPIRED
    return GROUNDED if grounded else UNGROUNDED


async def _entries(
    db: aiosqlite.Connection, rows: list[Any], now_ms: int
) -> list[AttestationEntry]:
    """Entries of rows (created, id, issuer, wire, grounded, expires); tombstones have no wire."""
    replies = await replies_to(db, [row[1] for row in rows if row[3] is not None])
    entries = []
    for created, rid, issuer, wire, grounded, expires in rows:
        if wire is None:
            entries.append(AttestationEntry(rid, issuer, created, RETRACTED, None))
        else:
            state = _state(grounded, expires, now_ms)
            record = trusted(wire, rid)
            entries.append(AttestationEntry(rid, issuer, created, state, record, replies.get(rid)))
    return entries


_LIVE = (
    "SELECT a.created, a.id, a.issuer, r.wire, a.grounded, a.expires"
    " FROM attestations a JOIN records r ON r.id = a.id"
)
_NOT_EXPIRED = "(a.expires IS NULL OR a.expires > ?)"


async def newest_attestations(
    db: aiosqlite.Connection, subject: bytes, now_ms: int, grounded: bool, limit: int
) -> list[AttestationEntry]:
    """The newest live, unexpired attestations about ``subject`` that are (not) grounded."""
    rows = await db.execute_fetchall(
        f"{_LIVE} WHERE a.subject = ? AND a.grounded = ? AND {_NOT_EXPIRED}"
        " ORDER BY a.created DESC, a.id DESC LIMIT ?",
        (subject, int(grounded), now_ms, limit),
    )
    return await _entries(db, list(rows), now_ms)


async def attestations_counted(
    db: aiosqlite.Connection, subject: bytes, now_ms: int, grounded: bool
) -> int:
    """How many live, unexpired attestations about ``subject`` are (not) grounded."""
    rows = await db.execute_fetchall(
        "SELECT count(*) FROM attestations a WHERE a.subject = ? AND a.grounded = ?"
        f" AND {_NOT_EXPIRED}",
        (subject, int(grounded), now_ms),
    )
    return int(next(iter(rows))[0])


async def reputation_page(
    db: aiosqlite.Connection, subject: bytes, now_ms: int, offset: int, limit: int
) -> tuple[dict[str, Any], bool]:
    """``Reputation.to_json()`` of ``subject`` with one page of each list (``offset``,
    ``limit``), and whether either list goes on past it. The summary is whole."""
    every = list(
        await db.execute_fetchall(
            "SELECT created, id, issuer, wire, grounded, expires FROM ("
            f" {_LIVE} WHERE a.subject = ?"
            " UNION ALL SELECT created, id, author, NULL, NULL, NULL FROM records"
            f" WHERE kind = '{kinds.ATTESTATION}' AND subject = ? AND wire IS NULL) u"
            " ORDER BY created, id LIMIT ? OFFSET ?",
            (subject, subject, limit + 1, offset),
        )
    )
    apart = list(
        await db.execute_fetchall(
            f"{_LIVE} WHERE a.subject = ? AND a.grounded = 0 AND {_NOT_EXPIRED}"
            " ORDER BY a.created, a.id LIMIT ? OFFSET ?",
            (subject, now_ms, limit + 1, offset),
        )
    )
    more = len(every) > limit or len(apart) > limit
    summary = await reputation_summary(db, subject, now_ms)
    document = {
        "attestations": [e.to_json() for e in await _entries(db, every[:limit], now_ms)],
        "ungrounded": [e.to_json() for e in await _entries(db, apart[:limit], now_ms)],
        "summary": [
            summary[k].to_json() for k in sorted(summary, key=lambda k: (k[0], k[1] or ""))
        ],
    }
    return document, more
