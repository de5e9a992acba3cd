"""Views by identity from the store (revision 3 proposal): key histories and one identity's
records, handed to ``protocol.identityviews.derive_identities``.

The store keeps its views by author key. For an identity with key events, the API gathers the
records that its views depend on (its keys' records, the records naming its keys, what those
refer to and what refers to them) together with every key event held, and derives the views
of that subset by identity. Each step is an indexed lookup bounded by the identity's records.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiosqlite

from protocol.identityviews import IdentityViews, derive_identities
from protocol.keyevents import KEY_INCEPTION, KEY_ROTATION
from protocol.keyhistory import KeyHistories, key_histories
from protocol.record import Record
from protocol.validate import parse

CHUNK = 500


async def key_events(db: aiosqlite.Connection) -> list[Record]:
    rows = await db.execute_fetchall(
        "SELECT wire FROM records WHERE kind IN (?, ?) AND wire IS NOT NULL",
        (KEY_INCEPTION, KEY_ROTATION),
    )
    return [parse(row[0]) for row in rows]


async def histories(db: aiosqlite.Connection) -> KeyHistories:
    return key_histories(await key_events(db))


def keys_of(keys: KeyHistories, identity: bytes) -> set[bytes]:
    """Every key that has ever spoken for ``identity`` (its first key included)."""
    history = keys.history(identity)
    found = {identity}
    if history is not None:
        found.update(w.key for w in history.windows)
    return found


async def _where_in(
    db: aiosqlite.Connection, column: str, values: Iterable[bytes]
) -> dict[bytes, Record]:
    ordered = sorted(set(values))
    out: dict[bytes, Record] = {}
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = await db.execute_fetchall(
            f"SELECT wire FROM records WHERE {column} IN ({','.join('?' * len(chunk))})"
            " AND wire IS NOT NULL",
            chunk,
        )
        for (wire,) in rows:
            record = parse(wire)
            out[record.id] = record
    return out


async def identity_records(
    db: aiosqlite.Connection, keys: KeyHistories, identities: Iterable[bytes]
) -> list[Record]:
    """The records the views of ``identities`` depend on (see the module docstring)."""
    wanted: set[bytes] = set()
    for identity in identities:
        wanted |= keys_of(keys, identity)
    held = await _where_in(db, "author", wanted)
    held.update(await _where_in(db, "subject", wanted))
    for _ in range(2):  # referred to, and referring (ends, attestations, retracts, replies)
        refs = {r.body.get(f) for r in held.values() for f in ("alliance", "target")}
        missing = {ref for ref in refs if isinstance(ref, bytes) and ref not in held}
        held.update(await _where_in(db, "id", missing))
        held.update(await _where_in(db, "ref", list(held)))
    return list(held.values())


async def identity_views(
    db: aiosqlite.Connection, identities: Iterable[bytes], now_ms: int
) -> IdentityViews:
    """The views by identity of the records ``identities`` depend on, with every key event."""
    events = await key_events(db)
    keys = key_histories(events)
    records = await identity_records(db, keys, identities)
    return derive_identities([*records, *events], now_ms)
