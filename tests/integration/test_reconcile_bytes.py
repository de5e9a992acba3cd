"""Reconciliation cost between two real nodes: 10,000 records shared, 5 + 5 that differ.

Both stores (SQLite files, or PostgreSQL databases: the ``federation_engine`` fixture) are
filled directly (``add``) before the nodes start, the nodes' own
``org.profile`` records included, so that the two sets differ by exactly ten ids. The nodes
run in this event loop (real HTTP on 127.0.0.1) without peers or background syncing; the test
drives the reconciliation itself, over a signed ``NodeClient``, then a whole
``Federation.sync_with``.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from node.config import load_config, load_keys
from node.federation.antientropy import reconcile
from node.storage.engines import open_record_store
from node.transport import NodeClient
from protocol import kinds
from protocol.builder import sign_record
from protocol.itemset import MAX_BOUND, MIN_BOUND
from protocol.record import Record
from tests.support import now_ms, seeded_key
from tests.support.federation import federation_home, http_session, running_federation

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]

SHARED = 10_000
EACH_ALONE = 5
DIFFERING = 2 * EACH_ALONE
# The bound, in bytes both ways, for one reconciliation that finds d differences among n items.
# Each difference sits alone in its part of the key space, so it costs one split per level of
# the range tree: log_B(n) levels of B fingerprint ranges (about 30 B each, B = 8 today), a
# few hundred bytes per difference. We allow 1 KiB per difference plus 4 KiB for the opening
# rounds: 14 KiB here, against 320 KB for a naive exchange of the 10,000 ids alone.
BYTES_PER_DIFFERENCE = 1024
BYTES_FIXED = 4096
RECONCILE_BOUND = BYTES_FIXED + BYTES_PER_DIFFERENCE * DIFFERING
EQUAL_SETS_BOUND = 512  # one round trip: the opening fingerprints and an all-skip reply


def own_profile(home) -> Record:
    """The org.profile the node of ``home`` publishes at start (so it need not publish one)."""
    config, keys = load_config(home), load_keys(home)
    body = {
        "name": config.name,
        "nodes": [{"key": keys.node.public_key.raw, "url": config.public_url}],
    }
    return sign_record(keys.org, kinds.ORG_PROFILE, now_ms() - 3_600_000, body)


def bulk(rng: random.Random) -> tuple[list[Record], list[Record], list[Record]]:
    """Shared records spread over ~3 hours, and 5 for each side alone at random places."""
    key = seeded_key("reconcile-bytes")
    t0 = now_ms() - 86_400_000
    shared = [sign_record(key, "x.bulk", t0 + 1000 * i, {"n": i}) for i in range(SHARED)]
    places = rng.sample(range(SHARED), DIFFERING)
    only_a = [
        sign_record(key, "x.bulk", t0 + 1000 * i + 300, {"a": i}) for i in places[:EACH_ALONE]
    ]
    only_b = [
        sign_record(key, "x.bulk", t0 + 1000 * i + 700, {"b": i}) for i in places[EACH_ALONE:]
    ]
    return shared, only_a, only_b


async def fill(home, records: list[Record]) -> None:
    store = await open_record_store(load_config(home))  # SQLite or PostgreSQL
    try:
        flags = await store.add(records, now_ms())
        assert all(flags)
    finally:
        await store.close()


async def test_ten_differences_among_ten_thousand(tmp_path) -> None:
    quiet = {"anti_entropy_interval": 3600.0, "push_interval": 3600.0}
    home_a = federation_home(tmp_path, "a", **quiet)
    home_b = federation_home(tmp_path, "b", **quiet)
    shared, only_a, only_b = bulk(random.Random(20261129))
    profiles = [own_profile(home_a), own_profile(home_b)]
    await asyncio.gather(
        fill(home_a, [*shared, *profiles, *only_a]), fill(home_b, [*shared, *profiles, *only_b])
    )

    async with (
        running_federation(home_a) as node_a,
        running_federation(home_b) as node_b,
        http_session() as session,
    ):
        fed_a, fed_b = node_a.federation, node_b.federation
        assert fed_a is not None and fed_b is not None
        await asyncio.wait_for(
            asyncio.gather(fed_a.index.ready.wait(), fed_b.index.ready.wait()), 30
        )
        held = SHARED + len(profiles) + EACH_ALONE
        assert len(fed_a.index.items) == len(fed_b.index.items) == held, (
            "a node published something at start: the sets must differ by the 10 ids only"
        )
        b_url = node_b.node.config.public_url

        # 1. the reconciliation alone, signed by A's node key, against B's /v1/sync
        client = NodeClient(b_url, session, signer=node_a.node.keys.node)
        report = await reconcile(client, fed_a.index.items)
        assert report.have == {r.id for r in only_b}
        assert report.need == {r.id for r in only_a}
        assert client.round_trips == report.rounds
        assert report.reconcile_bytes == client.bytes_sent + client.bytes_received
        print(
            f"reconcile: {DIFFERING} differences among {held} records: {report.rounds} "
            f"rounds, {report.reconcile_bytes} B (bound {RECONCILE_BOUND} B)"
        )
        assert report.reconcile_bytes <= RECONCILE_BOUND

        # 2. a whole anti-entropy session: the same findings, then fetch 5 and send 5
        synced = await fed_a.sync_with(b_url)
        assert synced is not None, "sync_with failed: see the log"
        assert synced.have == {r.id for r in only_b}
        assert synced.need == {r.id for r in only_a}
        assert (synced.fetched, synced.sent, synced.refused) == (EACH_ALONE, EACH_ALONE, 0)
        assert synced.reconcile_bytes <= RECONCILE_BOUND

        # 3. now equal: one round trip settles it
        assert len(fed_a.index.items) == len(fed_b.index.items) == held + EACH_ALONE
        before = client.round_trips
        equal = await reconcile(client, fed_a.index.items)
        assert (equal.have, equal.need) == (set(), set())
        assert equal.rounds == 1 and client.round_trips - before == 1
        print(
            f"reconcile: equal sets of {held + EACH_ALONE} records: {equal.rounds} round, "
            f"{equal.reconcile_bytes} B"
        )
        assert equal.reconcile_bytes <= EQUAL_SETS_BOUND


async def test_one_session_fetches_large_answers(tmp_path) -> None:
    """Fetch answers of about 1 MB (256 records of 4 KB) arrive whole: 300 records that only
    B holds all reach A in one anti-entropy session."""
    quiet = {"anti_entropy_interval": 3600.0, "push_interval": 3600.0}
    home_a = federation_home(tmp_path, "a", **quiet)
    home_b = federation_home(tmp_path, "b", **quiet)
    key = seeded_key("large-answers")
    t0 = now_ms() - 3_600_000
    large = [sign_record(key, "x.large", t0 + i, {"n": i, "pad": "x" * 4000}) for i in range(300)]
    await fill(home_b, large)
    async with running_federation(home_a) as node_a, running_federation(home_b) as node_b:
        fed_a = node_a.federation
        assert fed_a is not None and node_b.federation is not None
        await asyncio.wait_for(
            asyncio.gather(fed_a.index.ready.wait(), node_b.federation.index.ready.wait()), 30
        )
        report = await fed_a.sync_with(node_b.node.config.public_url)
        assert report is not None, "the session failed: see the log"
        assert report.fetched == len(large) + 1 and report.refused == 0  # + B's profile
        held = {rid for _, rid in fed_a.index.items.items(MIN_BOUND, MAX_BOUND)}
        assert {r.id for r in large} <= held
