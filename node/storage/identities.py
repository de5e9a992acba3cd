"""Views by identity from the store (revision 3 proposal): key histories and one identity's
records, handed to ``protocol.identityviews.derive_identities``.

The store keeps its views by author key. For an identity with key events, the API gathers the
records that its views depend on (its keys' records, the records naming its keys, what those
refer to and what refers to them) together with every key event held, and derives the views
of that subset by identity. Each step is an indexed lookup bounded by the identity's records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiosqlite

from node.storage.interface import RecordStore
from protocol import (
    KEY_INCEPTION,
    KEY_ROTATION,
    IdentityViews,
    KeyHistories,
    Record,
    Rejected,
    check_before_signatures,
    derive_identities,
    key_histories,
    kinds,
    parse,
)

CHUNK = 500
COLUMNS = frozenset({"author", "subject", "ref", "id"})  # indexed columns of ``records``


# ----- SQL (the store's reads call these on its reader connection)


async def live_of_kinds(db: aiosqlite.Connection, kinds: Sequence[str]) -> list[bytes]:
    """Wire bytes of every live record of ``kinds``, oldest ``created`` first."""
    rows = await db.execute_fetchall(
        f"SELECT wire FROM records WHERE kind IN ({','.join('?' * len(kinds))})"
        " AND wire IS NOT NULL ORDER BY created, id",
        list(kinds),
    )
    return [row[0] for row in rows]


async def live_where_in(
    db: aiosqlite.Connection, column: str, values: Sequence[bytes]
) -> list[bytes]:
    """Wire bytes of the live records whose ``column`` (author, subject, ref, id) is among
    ``values``."""
    if column not in COLUMNS:
        raise ValueError(f"not an indexed column: {column}")
    ordered = sorted(set(values))
    out: list[bytes] = []
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = await db.execute_fetchall(
            f"SELECT wire FROM records WHERE {column} IN ({','.join('?' * len(chunk))})"
            " AND wire IS NOT NULL",
            chunk,
        )
        out.extend(row[0] for row in rows)
    return out


async def counterparties(db: aiosqlite.Connection, key: bytes) -> set[bytes]:
    """Every other key that signed or was named in a record with ``key``: subjects of its
    records, authors of records naming it, and authors of records referring to its alliances
    (ends, attestations). Index lookups, no wire bytes parsed."""
    rows = await db.execute_fetchall(
        "SELECT subject FROM records WHERE author = ? AND subject IS NOT NULL"
        " UNION SELECT author FROM records WHERE subject = ?"
        " UNION SELECT e.author FROM records a JOIN records e ON e.ref = a.id"
        " WHERE a.kind = 'alliance' AND (a.author = ? OR a.subject = ?)",
        (key, key, key, key),
    )
    return {bytes(row[0]) for row in rows} - {key}


class _Connection(Protocol):
    async def execute_fetchall(self, sql: str, params: Any = ()) -> Iterable[Any]: ...
    async def execute(self, sql: str, params: Any = ()) -> Any: ...


async def purge_refused_key_events(db: _Connection) -> int:
    """Delete the stored key events that a node now refuses (a store written while they were
    unknown kinds may hold malformed ones); return how many. Part of the migration that makes
    key events known kinds, run in its transaction on either engine."""
    rows = await db.execute_fetchall(
        "SELECT id, wire FROM records WHERE kind IN (?, ?) AND wire IS NOT NULL",
        (KEY_INCEPTION, KEY_ROTATION),
    )
    refused = []
    for record_id, wire in rows:
        try:
            check_before_signatures(bytes(wire))
        except Rejected:
            refused.append(bytes(record_id))
    for record_id in refused:
        await db.execute("DELETE FROM records WHERE id = ?", (record_id,))
    return len(refused)


# ----- over the store interface


async def key_events(store: RecordStore) -> list[Record]:
    return [parse(w) for w in await store.live_of_kinds([KEY_INCEPTION, KEY_ROTATION])]


async def histories(store: RecordStore) -> KeyHistories:
    return key_histories(await key_events(store))


@dataclass(frozen=True)
class CachedViews:
    """An identity's views, and what a new record must touch to change them: a key of the
    identity (as author, signer or named party), or a record gathered for them, or an id one of
    those refers to (a record they wait for)."""

    derived_at: int
    views: IdentityViews
    keys: frozenset[bytes]
    touched: frozenset[bytes]

    def touched_by(self, record: Record) -> bool:
        if record.id in self.touched or not self.keys.isdisjoint(record.signers):
            return True
        subject = kinds.subject_of(record.kind, record.body)
        ref = kinds.ref_of(record.kind, record.body)
        return subject in self.keys or ref in self.touched


MAX_DEALINGS = 100_000  # keys whose dealings are remembered (oldest forgotten first)


class HistoryCache:
    """The key events held and their histories, computed again only after a commit that holds
    a key event or a retract (``on_commit`` is a store commit listener)."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._generation = 0
        self._value: tuple[list[Record], KeyHistories] | None = None
        # identity -> its views, until a commit holds a record that can change them
        self.views: dict[bytes, CachedViews] = {}
        self.commits = 0
        # key -> whether it deals with a key of an identity with key events (``deals``)
        self.dealings: dict[bytes, bool] = {}
        self._dealings_generation = 0

    def on_commit(self, records: list[Record]) -> None:
        if not records:
            return
        self.commits += 1
        self._forget_dealings(records)
        if any(r.kind in (KEY_INCEPTION, KEY_ROTATION) for r in records):
            self.views.clear()  # histories change: every identity's views may
        else:  # only the identities whose views a new record can change
            for identity in [i for i, e in self.views.items() if any(map(e.touched_by, records))]:
                del self.views[identity]
        if any(r.kind in (KEY_INCEPTION, KEY_ROTATION, "retract") for r in records):
            self._generation += 1
            self._value = None

    async def get(self) -> tuple[list[Record], KeyHistories]:
        if self._value is not None:
            return self._value
        generation = self._generation
        events = await key_events(self.store)
        value = (events, key_histories(events))
        if generation == self._generation:  # no key event committed meanwhile
            self._value = value
        return value

    async def histories(self) -> KeyHistories:
        return (await self.get())[1]

    def _forget_dealings(self, records: list[Record]) -> None:
        """A key starts (or stops) dealing with a chained key only through a record that a
        chained key signed or names, a key event, or a retract (the counterparties of
        ``counterparties`` are authors and subjects): only such a commit clears the answers."""
        if not self.dealings:
            return
        chained = self._value[1].chained if self._value is not None else None
        if chained is None or any(
            r.kind in (KEY_INCEPTION, KEY_ROTATION, "retract")
            or r.author in chained
            or kinds.subject_of(r.kind, r.body) in chained
            or any(signer in chained for signer, _ in r.sigs)
            for r in records
        ):
            self.dealings.clear()
            self._dealings_generation += 1

    async def deals(self, key: bytes, keys: KeyHistories) -> bool:
        """Whether ``key`` signed or was named in a record with a key of an identity with key
        events (``counterparties``: index reads that grow with what ``key`` did, about 0.3 s
        for an organisation with 40,000 records, so the answer is kept until it can change)."""
        known = self.dealings.get(key)
        if known is not None:
            return known
        generation = self._dealings_generation
        found = bool(keys.chained & await self.store.counterparties(key))
        if generation == self._dealings_generation:
            if len(self.dealings) >= MAX_DEALINGS:
                self.dealings.pop(next(iter(self.dealings)))
            self.dealings[key] = found
        return found


def keys_of(keys: KeyHistories, identity: bytes) -> set[bytes]:
    """Every key that has ever spoken for ``identity`` (its first key included)."""
    history = keys.history(identity)
    found = {identity}
    if history is not None:
        found.update(w.key for w in history.windows)
    return found


async def _where_in(
    store: RecordStore, column: str, values: Iterable[bytes]
) -> dict[bytes, Record]:
    records = (parse(w) for w in await store.live_where_in(column, list(values)))
    return {r.id: r for r in records}


async def identity_records(
    store: RecordStore, keys: KeyHistories, identities: Iterable[bytes]
) -> list[Record]:
    """The records the views of ``identities`` depend on (see the module docstring)."""
    wanted: set[bytes] = set()
    for identity in identities:
        wanted |= keys_of(keys, identity)
    held = await _where_in(store, "author", wanted)
    held.update(await _where_in(store, "subject", wanted))
    for _ in range(2):  # referred to, and referring (ends, attestations, retracts, replies)
        refs = {r.body.get(f) for r in held.values() for f in ("alliance", "target")}
        missing = {ref for ref in refs if isinstance(ref, bytes) and ref not in held}
        held.update(await _where_in(store, "id", missing))
        held.update(await _where_in(store, "ref", list(held)))
    return list(held.values())


VIEWS_FRESH_MS = 10_000  # an identity's views are reused this long while nothing touches them
MAX_CACHED_VIEWS = 256


async def identity_views(
    cache: HistoryCache, identities: Iterable[bytes], now_ms: int
) -> IdentityViews:
    """The views by identity of the records ``identities`` depend on, with every key event.
    The views of one identity are kept until a commit holds a record that can change them (or
    a key event), at most ``VIEWS_FRESH_MS`` (an attestation's expiry depends on the time)."""
    wanted = tuple(identities)
    commits = cache.commits
    hit = cache.views.get(wanted[0]) if len(wanted) == 1 else None
    if hit is not None and 0 <= now_ms - hit.derived_at < VIEWS_FRESH_MS:
        return hit.views
    events, keys = await cache.get()
    records = await identity_records(cache.store, keys, wanted)
    views = derive_identities([*records, *events], now_ms)
    if len(wanted) == 1 and commits == cache.commits:  # nothing committed meanwhile
        if len(cache.views) >= MAX_CACHED_VIEWS:
            cache.views.clear()
        touched = {r.id for r in records}
        touched.update(ref for r in records if (ref := kinds.ref_of(r.kind, r.body)) is not None)
        keys_of_identity = frozenset(keys_of(keys, wanted[0]))
        cache.views[wanted[0]] = CachedViews(now_ms, views, keys_of_identity, frozenset(touched))
    return views
