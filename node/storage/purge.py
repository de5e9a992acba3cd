"""``rakuichi purge --org DID``: remove every record a denied organisation authored.

Run on a stopped node (SQLite). Each live record is first erased the way a retract erases it
(the schema's triggers take it out of every view), alliances it authored leave the alliance
view and the attestations grounded on them lose their ground; then the rows go. The
organisation stays in ``deny_orgs``, so the node refuses its records from peers and clients:
they are not fetched again while it stays denied.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from node.storage.facttables import fact_kinds
from protocol import kinds

_MARKS_LIMIT = 500


def purge_author(path: Path, author: bytes) -> dict[str, int]:
    """Remove the records ``author`` signed as author; the count removed, by kind."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("BEGIN IMMEDIATE")
        try:
            counts = {
                str(kind): int(n)
                for kind, n in db.execute(
                    "SELECT kind, count(*) FROM records WHERE author = ? GROUP BY kind", (author,)
                )
            }
            # erased as a retract would erase them: every view recomputed by the triggers
            kept = sorted(kinds.NOT_RETRACTABLE)
            db.execute(
                "UPDATE records SET retracted = 1, wire = NULL WHERE author = ?"
                f" AND retracted = 0 AND kind NOT IN ({','.join('?' * len(kept))})",
                (author, *kept),
            )
            # the facts of every kind that keeps some, retractable or not (an alliance's, or
            # a row a retraction left before its table had its cleanup trigger)
            for spec in fact_kinds():
                db.execute(
                    f"DELETE FROM {spec.fact_table} WHERE id IN"
                    " (SELECT id FROM records WHERE author = ? AND kind = ?)",
                    (author, spec.name),
                )
            alliances = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM records WHERE author = ? AND kind = 'alliance'", (author,)
                )
            ]
            for start in range(0, len(alliances), _MARKS_LIMIT):
                chunk = alliances[start : start + _MARKS_LIMIT]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM alliances WHERE id IN ({marks})", chunk)
                db.execute(
                    f"UPDATE attestations SET grounded = 0 WHERE alliance IN ({marks})", chunk
                )
            # none of its records is left to count (the kinds not erased above were counted)
            db.execute("DELETE FROM author_counts WHERE author = ?", (author,))
            db.execute("DELETE FROM records WHERE author = ?", (author,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.close()
    return counts
