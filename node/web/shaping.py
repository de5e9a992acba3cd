"""Shaping what the store returns for the board's templates (no SQL here: node/storage)."""

from __future__ import annotations

from collections.abc import Iterable

from node.storage.board_queries import PartyAlliance, trusted
from node.storage.identityreads import profile_names
from node.storage.interface import RecordStore
from node.storage.queries import Row
from protocol import KeyHistories, Record, kinds

RELATIONS = kinds.RELATIONS


def record_of(row: Row) -> Record:
    assert row.wire is not None
    return trusted(row.wire, row.id)


async def names(
    store: RecordStore, keys: Iterable[bytes], histories: KeyHistories | None = None
) -> dict[bytes, str]:
    """Display names: an organisation's profile name, else a member's. With ``histories``, an
    identity with key events is named by its current profile, whichever of its keys signed it."""
    wanted = set(keys)
    if histories is None:
        found = await store.profile_names(kinds.ORG_PROFILE, wanted)
        members = await store.profile_names(kinds.MEMBER_PROFILE, wanted - set(found))
    else:
        found = await profile_names(store, histories, kinds.ORG_PROFILE, wanted)
        members = await profile_names(store, histories, kinds.MEMBER_PROFILE, wanted - set(found))
    found.update(members)
    return found


def by_relation(items: list[PartyAlliance], in_force: bool) -> dict[str, list[PartyAlliance]]:
    """In force (``in_force``) or alumni (ended, with the alumni clause), grouped by relation
    in the protocol's order; one entry per (relation, counterparty)."""
    groups: dict[str, list[PartyAlliance]] = {r: [] for r in RELATIONS}
    seen: set[tuple[str, bytes]] = set()
    for item in items:
        wanted = item.in_force if in_force else (not item.in_force and item.alumni)
        relation = item.relation if item.relation in groups else kinds.DEFAULT_RELATION
        if wanted and (relation, item.member) not in seen:
            seen.add((relation, item.member))
            groups[relation].append(item)
    return {r: g for r, g in groups.items() if g}
