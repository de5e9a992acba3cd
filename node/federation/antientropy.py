"""One anti-entropy session with one peer: reconcile, fetch what we lack, send what it lacks."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.ingest import Ingestor
from node.storage.interface import RecordStore
from node.storage.peers import BATCH_FRAMING, MAX_BATCH_BYTES
from node.transport import NodeClient
from protocol import Initiator, ItemSet

FETCH_BATCH = 256
SEND_BATCH = 500
MAX_TRANSFER = 200_000  # records moved in one session, each way; the next session goes on


@dataclass
class SyncReport:
    rounds: int = 0
    reconcile_bytes: int = 0
    fetched: int = 0
    sent: int = 0
    refused: int = 0
    have: set[bytes] = field(default_factory=set)
    need: set[bytes] = field(default_factory=set)


async def reconcile(client: NodeClient, items: ItemSet) -> SyncReport:
    """Run the reconciliation rounds only; the report says what each side lacks."""
    session = Initiator(items)
    message: bytes | None = session.start()
    while message is not None:
        reply = await client.sync(message)
        message = session.receive(reply)
    return SyncReport(
        rounds=session.rounds,
        reconcile_bytes=session.bytes_sent + session.bytes_received,
        have=set(session.have),
        need=set(session.need),
    )


async def anti_entropy(
    client: NodeClient,
    items: ItemSet,
    store: RecordStore,
    ingestor: Ingestor,
    peer_key: bytes | None,
    max_bytes: int = MAX_BATCH_BYTES,
) -> SyncReport:
    """One session; ``max_bytes`` bounds each batch sent (the peer's advertised body limit)."""
    report = await reconcile(client, items)
    wanted = sorted(report.have)[:MAX_TRANSFER]
    for start in range(0, len(wanted), FETCH_BATCH):
        wires = await client.fetch(wanted[start : start + FETCH_BATCH])
        asked = set(wanted[start : start + FETCH_BATCH])
        # a record not asked for is dropped (not stored) and counted against the peer
        outcomes = await ingestor.submit(wires, source=peer_key, only=asked)
        for outcome in outcomes:
            if outcome.refusal is not None:
                report.refused += 1
            elif outcome.stored:
                report.fetched += 1
    owed = sorted(report.need)[:MAX_TRANSFER]
    for start in range(0, len(owed), SEND_BATCH):
        wires = await store.live_wires(owed[start : start + SEND_BATCH])
        for batch in byte_batches(wires, max_bytes):
            results = await client.post_records(batch)
            report.sent += sum(1 for r in results if r.get("stored"))
    return report


def byte_batches(wires: list[bytes], budget: int) -> list[list[bytes]]:
    """Split ``wires`` into batches of at most ``budget`` bytes of request body (the framing of
    each record counted), one record at least each."""
    batches: list[list[bytes]] = []
    size = 0
    for wire in wires:
        if not batches or size + len(wire) + BATCH_FRAMING > budget:
            batches.append([])
            size = 0
        batches[-1].append(wire)
        size += len(wire) + BATCH_FRAMING
    return batches
