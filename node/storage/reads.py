"""The store's reads: what the node asks of its records, each one an indexed lookup.

``Store`` inherits these; they run on its reader connection and never wait behind the writer.
The SQL is in ``queries``, ``reputation_queries`` and ``viewdump``; callers outside
node/storage/ use these methods and never see a connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite

from node.storage import (
    board_queries,
    identities,
    queries,
    reputation_queries,
    stream_queries,
    summary_queries,
    viewdump,
)
from node.storage.board_queries import PartyAlliance
from node.storage.queries import OpportunityFilter, RecordFilter, Row
from node.storage.stream_queries import StreamFilter, StreamRow
from protocol import (
    AttestationEntry,
    AttestationState,
    ClaimSummary,
    Record,
    Reputation,
    SummaryKey,
    Tombstone,
    Views,
)


class StoreReads:
    reader: aiosqlite.Connection
    # SQLite only: a plain read-only connection for lookups by primary key on the event loop's
    # thread (a reader that never waits: WAL; if it ever is busy, the reader thread answers)
    point: sqlite3.Connection | None = None

    async def get_record(self, record_id: bytes) -> Row | None:
        if self.point is not None:
            try:
                return queries.get_record_now(self.point, record_id)
            except sqlite3.OperationalError:
                pass
        return await queries.get_record(self.reader, record_id)

    def point_reads(self) -> Callable[[bytes], Row | None] | None:
        point = self.point
        if point is None:
            return None
        return lambda record_id: queries.get_record_now(point, record_id)

    async def retract_pending_on(self, record_id: bytes) -> bool:
        """Whether a held retract names ``record_id`` (a record this node never held)."""
        return await queries.retract_pending_on(self.reader, record_id)

    async def live_wires(self, ids: list[bytes]) -> list[bytes]:
        """Wire bytes of the records held among ``ids`` (unknown and retracted ones left out)."""
        return await queries.live_wires(self.reader, ids)

    async def live_keys(self, after: tuple[int, bytes], limit: int) -> list[tuple[int, bytes]]:
        """``(created, id)`` of live records past ``after`` in that order, at most ``limit``."""
        return await queries.live_keys(self.reader, after, limit)

    async def erased_among(self, ids: list[bytes]) -> list[tuple[int, bytes]]:
        """``(created, id)`` of the records among ``ids`` held as tombstones."""
        return await queries.erased_among(self.reader, ids)

    async def list_records(self, where: RecordFilter, after_seq: int, limit: int) -> list[Row]:
        return await queries.list_records(self.reader, where, after_seq, limit)

    async def last_seq(self) -> int:
        return await stream_queries.last_seq(self.reader)

    async def stream_rows(
        self, after: int, upto: int | None, where: StreamFilter, limit: int
    ) -> list[StreamRow]:
        return await stream_queries.rows_between(self.reader, after, upto, where, limit)

    async def list_opportunities(
        self, where: OpportunityFilter, before: tuple[int, bytes] | None, limit: int
    ) -> list[Row]:
        return await queries.list_opportunities(self.reader, where, before, limit)

    async def current_of(self, kind: str, author: bytes) -> Row | None:
        """The current record of a replaceable kind without a slot (a profile)."""
        return await queries.current_of(self.reader, kind, author)

    async def list_org_profiles(self, after: bytes | None, limit: int) -> list[Row]:
        return await queries.list_org_profiles(self.reader, after, limit)

    async def counts_by_kind(self, author: bytes | None = None) -> dict[str, int]:
        return await queries.counts_by_kind(self.reader, author)

    async def alumni_of(self, org: bytes) -> list[tuple[bytes, bytes, bytes]]:
        return await queries.alumni_of(self.reader, org)

    async def is_alumnus(self, org: bytes, member: bytes) -> bool:
        return await queries.is_alumnus(self.reader, org, member)

    async def get_draft(self, draft_id: bytes) -> bytes | None:
        return await reputation_queries.get_draft(self.reader, draft_id)

    async def drafts_for(self, member: bytes) -> list[bytes]:
        """Wire bytes of the drafts waiting for ``member``: not yet signed into a held record."""
        return await reputation_queries.drafts_for(self.reader, member)

    async def attestations_about(
        self, subject: bytes, now_ms: int
    ) -> tuple[dict[bytes, AttestationState], dict[bytes, Tombstone]]:
        """Live attestations about ``subject`` with their state, and retracted ones."""
        return await reputation_queries.attestation_rows(self.reader, subject, now_ms)

    async def reputation_of(self, subject: bytes, now_ms: int) -> Reputation:
        return await reputation_queries.reputation_of(self.reader, subject, now_ms)

    # ----- reputation from the stored summaries (summary_queries): bounded by a page
    async def reputation_summary(
        self, subject: bytes, now_ms: int
    ) -> dict[SummaryKey, ClaimSummary]:
        """The grounded summary of ``subject`` (as ``protocol.reputation``), read stored."""
        return await summary_queries.reputation_summary(self.reader, subject, now_ms)

    async def newest_attestations(
        self, subject: bytes, now_ms: int, grounded: bool, limit: int
    ) -> list[AttestationEntry]:
        """The newest live, unexpired attestations about ``subject``, (un)grounded ones."""
        return await summary_queries.newest_attestations(
            self.reader, subject, now_ms, grounded, limit
        )

    async def attestations_counted(self, subject: bytes, now_ms: int, grounded: bool) -> int:
        return await summary_queries.attestations_counted(self.reader, subject, now_ms, grounded)

    async def reputation_page(
        self, subject: bytes, now_ms: int, offset: int, limit: int
    ) -> tuple[dict[str, Any], bool]:
        """The reputation document with one page of each list; whether there is more."""
        return await summary_queries.reputation_page(self.reader, subject, now_ms, offset, limit)

    async def bundle_records(self, subject: bytes, chosen: list[Record]) -> list[Record]:
        """What checking ``chosen`` attestations offline needs, beside them."""
        return await reputation_queries.bundle_records(self.reader, subject, chosen)

    async def member_alliances(self, member: bytes) -> list[dict[str, Any]]:
        return await reputation_queries.member_alliances(self.reader, member)

    # ----- the web board
    async def profile_names(self, kind: str, keys: Iterable[bytes]) -> dict[bytes, str]:
        return await board_queries.profile_names(self.reader, kind, keys)

    async def party_alliances(self, side: str, key: bytes) -> list[PartyAlliance]:
        return await board_queries.party_alliances(self.reader, side, key)

    async def is_retracted(self, record_id: bytes) -> bool:
        return await board_queries.is_retracted(self.reader, record_id)

    async def alliances_of(self, key: bytes) -> list[dict[str, Any]]:
        """Every alliance ``key`` is a party of, as the organisation or as the other party."""
        return await reputation_queries.alliances_of(self.reader, key)

    async def dump_views(self, now_ms: int) -> Views:
        """Every derived view as stored (equal to ``protocol.derive`` over the records held)."""
        return await viewdump.dump_views(self.reader, now_ms)

    async def live_of_kinds(self, kinds: Sequence[str]) -> list[bytes]:
        """Wire bytes of every live record of ``kinds`` (key events, profiles), oldest first."""
        return await identities.live_of_kinds(self.reader, kinds)

    async def live_where_in(self, column: str, values: Sequence[bytes]) -> list[bytes]:
        """Wire bytes of the live records whose indexed ``column`` (author, subject, ref, id)
        is among ``values``: what views by identity gather (revision 3 proposal)."""
        return await identities.live_where_in(self.reader, column, values)

    async def counterparties(self, key: bytes) -> set[bytes]:
        """The keys ``key`` deals with: the subjects of its records, the authors of the records
        naming it, and the other parties of its alliances' ends and attestations."""
        return await identities.counterparties(self.reader, key)
