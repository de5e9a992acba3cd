"""Reads by identity (revision 3 proposal): an identity with key events answered in the shapes
the store's own reads give, and SQL filters that select what an identity's keys signed.

The store keeps its views by signing key. For an identity with key events:

- ``Scope`` says which keys speak for it and when (its windows, contested keys left out), and
  ``scope_sql`` turns that into a bounded SQL condition (one indexed range per key), so a
  listing filtered by identity (``?author=``, ``?org=``) selects exactly the records attributed
  to it, however many keys it had, and never a record a key signed after it was retired;
- ``IdentityReads`` answers from the identity's views by identity
  (``node.storage.identities.identity_views``): its profile, current opportunities, alliances
  and reputation, as rows and ``PartyAlliance`` items (records shown as signed);
- ``profile_names`` names identities by their current profile whichever key signed it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.storage.board_queries import PartyAlliance
from node.storage.interface import RecordStore
from node.storage.queries import Row, Window
from protocol import IdentityViews, KeyHistories, Record, Reputation, kinds
from protocol import reputation_from_views as reputation


@dataclass(frozen=True)
class Scope:
    """The keys that speak for ``identity`` and when, and the keys that name it in a body."""

    identity: bytes
    windows: tuple[Window, ...]  # (key, from, until): until None is open
    names: tuple[bytes, ...]  # every key of the identity (``subject`` and ``member`` fields)


def scope_of(keys: KeyHistories, identity: bytes) -> Scope | None:
    """The scope of an identity with key events (None for a plain key: filter by the key)."""
    history = keys.histories.get(identity)
    if history is None:
        return None
    windows = tuple(
        (w.key, w.start, w.end)
        for w in history.windows
        if w.key not in history.contested and (w.end is None or w.end > w.start)
    )
    names = tuple(sorted({identity, *(w.key for w in history.windows)}))
    return Scope(identity, windows, names)


def as_row(record: Record) -> Row:
    return Row(0, record.id, record.kind, record.author, record.created, record.wire)


@dataclass(frozen=True)
class IdentityReads:
    """One identity's answers from its views by identity (records shown as signed)."""

    views: IdentityViews
    identity: bytes

    def original(self, record: Record) -> Record:
        return self.views.originals.get(record.id, record)

    def profile(self, kind: str) -> Row | None:
        table = self.views.views.org_profiles
        if kind == kinds.MEMBER_PROFILE:
            table = self.views.views.member_profiles
        found = table.get(self.identity)
        return None if found is None else as_row(self.original(found))

    def opportunities(self) -> list[Row]:
        """Its current opportunities (one per slug, whichever key signed it), newest first."""
        current = self.views.views.opportunities
        mine = [r for (author, _), r in current.items() if author == self.identity]
        mine.sort(key=lambda r: (r.created, r.id), reverse=True)
        return [as_row(self.original(r)) for r in mine]

    def current_ids(self) -> frozenset[bytes]:
        """Ids of the identity's current versions: profiles and opportunities."""
        views = self.views.views
        found = {r.id for (a, _), r in views.opportunities.items() if a == self.identity}
        for table in (views.org_profiles, views.member_profiles):
            if self.identity in table:
                found.add(table[self.identity].id)
        return frozenset(found)

    def party_alliances(self, side: str) -> list[PartyAlliance]:
        """As ``RecordStore.party_alliances``: parties are identities; newest first."""
        found = []
        for state in self.views.views.alliances.values():
            if (state.org if side == "org" else state.member) != self.identity:
                continue
            record = state.record
            found.append(
                PartyAlliance(
                    record.id,
                    state.org,
                    state.member,
                    state.relation,
                    record.body["tour"],
                    record.body["alumni"] is True,
                    record.created,
                    None if state.end is None else state.end.id,
                    state.outcome,
                )
            )
        found.sort(key=lambda a: (a.created, a.id), reverse=True)
        return found

    def reputation(self) -> Reputation:
        return reputation(self.views.views, self.identity)

    def counts(self) -> dict[str, int]:
        """Live records attributed to the identity, by kind."""
        keys = self.views.keys
        counts = Counter(
            r.kind
            for r in self.views.originals.values()
            if keys.identity_at(r.author, r.created) == self.identity
        )
        return dict(sorted(counts.items()))

    def history_json(self) -> dict[str, Any] | None:
        history = self.views.keys.history(self.identity)
        return None if history is None else history.to_json()


async def profile_names(
    store: RecordStore, keys: KeyHistories, kind: str, wanted: Iterable[bytes]
) -> dict[bytes, str]:
    """The ``name`` of each wanted key's current profile of ``kind``; an identity with key
    events is named by the newest profile its keys signed inside their windows."""
    wanted = set(wanted)
    scopes = {k: s for k in wanted if (s := scope_of(keys, k)) is not None}
    found = await store.profile_names(kind, wanted - set(scopes))
    for identity, scope in scopes.items():
        best: tuple[int, bytes, str] | None = None
        for key, start, end in scope.windows:
            row = await store.current_of(kind, key)
            if row is None or row.wire is None or row.created < start:
                continue
            if end is not None and row.created >= end:
                continue
            name = (await store.profile_names(kind, [key])).get(key)
            if name is not None and (best is None or (row.created, row.id) > best[:2]):
                best = (row.created, row.id, name)
        if best is not None:
            found[identity] = best[2]
    return found
