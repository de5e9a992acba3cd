"""One anti-entropy session with one peer: reconcile, fetch what we lack, send what it lacks."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from node.ingest import Ingestor
from node.storage.interface import RecordStore
from node.storage.peers import BATCH_FRAMING, MAX_BATCH_BYTES
from node.transport import NodeClient
from protocol import Initiator, ItemSet

FETCH_BATCH = 256
SEND_BATCH = 500
MAX_TRANSFER = 200_000  # records moved in one session, each way; the next session goes on
MAX_TOOK = 10_000  # ids remembered per peer as taken (to see it lack them again)
# ids a peer may claim and not deliver, or records it may lack again after taking them, in one
# session (records erased or arriving between the rounds and the transfer): past it the
# peer's claims do not hold: the session stops there and counts as failed
CLAIM_TOLERANCE = 16


@dataclass
class SyncReport:
    rounds: int = 0
    reconcile_bytes: int = 0
    fetched: int = 0
    sent: int = 0
    refused: int = 0
    have: set[bytes] = field(default_factory=set)
    need: set[bytes] = field(default_factory=set)
    undelivered: int = 0  # ids the peer claimed to have and did not deliver
    relacked: int = 0  # records it lacks again though it took them in the last session
    took: set[bytes] = field(default_factory=set)  # ids it took (stored or already held)


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
    took_before: set[bytes] | frozenset[bytes] = frozenset(),
) -> SyncReport:
    """One session; ``max_bytes`` bounds each batch sent (the peer's advertised body limit).

    ``took_before``: the ids the peer took in the last session. Those it claims to lack again
    are counted (``relacked``) and not sent again; ids it claimed and did not deliver are
    counted too (``undelivered``): the caller decides whether the peer's claims hold.
    """
    report = await reconcile(client, items)
    wanted = sorted(report.have)[:MAX_TRANSFER]
    delivered = 0
    for start in range(0, len(wanted), FETCH_BATCH):
        wires = await client.fetch(wanted[start : start + FETCH_BATCH])
        asked = set(wanted[start : start + FETCH_BATCH])
        # a record not asked for is dropped (not stored) and counted against the peer
        outcomes = await ingestor.submit(wires, source=peer_key, only=asked)
        for outcome in outcomes:
            if outcome.refusal is not None:
                report.refused += 1
            else:
                delivered += 1
                report.fetched += outcome.stored
        if start + len(asked) - delivered > CLAIM_TOLERANCE:
            break  # it claimed records it does not deliver: do not ask for the rest
    report.undelivered = max(0, len(wanted) - delivered)
    again = report.need & took_before
    report.relacked = len(again)
    if not claims_hold(report):
        # nothing is sent: what it took before stays what it took last, so that lacking it
        # again fails the next session too (and backs off further) rather than getting it all
        # sent again every other session
        report.took.update(took_before)
        return report
    owed = sorted(report.need - again)[:MAX_TRANSFER]
    for start in range(0, len(owed), SEND_BATCH):
        wires = await store.live_wires(owed[start : start + SEND_BATCH])
        for batch in byte_batches(wires, max_bytes):
            results = await client.post_records(batch)
            report.sent += sum(1 for r in results if r.get("stored"))
            report.took.update(_taken(results)[: max(0, MAX_TOOK - len(report.took))])
    return report


def _taken(results: list[dict[str, object]]) -> list[bytes]:
    """The ids a peer's ``POST /v1/records`` answer says it took (stored or already held)."""
    taken = []
    for result in results:
        rid = result.get("id")
        if "class" not in result and isinstance(rid, str) and len(rid) == 64:
            with contextlib.suppress(ValueError):
                taken.append(bytes.fromhex(rid))
    return taken


def claims_hold(report: SyncReport) -> bool:
    """Whether the peer delivered what it claimed to have and kept what it took."""
    return report.undelivered <= CLAIM_TOLERANCE and report.relacked <= CLAIM_TOLERANCE


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
