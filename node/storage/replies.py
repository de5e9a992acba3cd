"""Replies (revision 2): the current reply to each target, read from the ``current`` table.

A reply is replaceable per (author, target), so the store keeps its current version in
``current`` (its slot is the target id in hex) like profiles and opportunities. Whether it takes
effect depends on its target, which can arrive later or be retracted, so that is decided when
reading, by ``APPLIES`` below: the same rule as ``protocol.views.reply_applies``.
"""

from __future__ import annotations

import aiosqlite

from protocol import Record, parse

# SQL condition on ``r`` (the reply's records row): its target ``t`` is live and the reply's
# author is the attestation's subject, or the other party of the alliance the end closes.
APPLIES = """EXISTS (SELECT 1 FROM records t WHERE t.id = r.ref AND t.wire IS NOT NULL AND (
    (t.kind = 'attestation' AND t.subject = r.author)
    OR (t.kind = 'alliance.end' AND t.author != r.author AND EXISTS (
      SELECT 1 FROM alliances a WHERE a.id = t.ref
        AND (t.author = a.org OR t.author = a.member)
        AND (r.author = a.org OR r.author = a.member)))))"""

_CURRENT_REPLIES = (
    "SELECT r.ref, r.wire FROM current c JOIN records r ON r.id = c.id"
    f" WHERE c.kind = 'reply' AND {APPLIES}"
)


async def all_replies(db: aiosqlite.Connection) -> dict[bytes, Record]:
    """Every reply in effect, by its target's id."""
    rows = await db.execute_fetchall(_CURRENT_REPLIES)
    return {ref: parse(wire) for ref, wire in rows}


async def replies_to(db: aiosqlite.Connection, targets: list[bytes]) -> dict[bytes, Record]:
    """The reply in effect for each of ``targets`` that has one."""
    out: dict[bytes, Record] = {}
    for start in range(0, len(targets), 500):
        chunk = targets[start : start + 500]
        rows = await db.execute_fetchall(
            f"{_CURRENT_REPLIES} AND c.slot IN ({','.join('?' * len(chunk))})",
            [t.hex() for t in chunk],
        )
        out.update((ref, parse(wire)) for ref, wire in rows)
    return out
