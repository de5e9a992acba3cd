"""The node's Prometheus metrics (``GET /metrics``), one registry per node.

Events are counted as they happen (records taken in, refusals, HTTP requests, reconciliation
sessions); levels (store size, peer backlog and backoff, verifier queue) are read when scraped.
docs/operations.md explains each family and gives alert rules.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPMethod
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crypto import did_from_raw
from node.federation.antientropy import SyncReport
from node.federation.manager import Federation
from node.ingest import Outcome
from node.service import Node
from protocol import Record

COUNTS_MAX_AGE = 60.0  # seconds a slow count of the store's records may be reused
HTTP_METHODS = frozenset(method.value for method in HTTPMethod)  # RFC 9110's and PATCH
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def source_label(source: bytes | None) -> str:
    return "client" if source is None else "peer"


@dataclass
class PeerLevels:
    url: str
    backlog: int
    failures: int
    backoff_seconds: float
    since_success: float | None
    pushed_records: int
    pushed_bytes: int


@dataclass
class Snapshot:
    """Levels read (asynchronously) just before a scrape renders them."""

    records_by_kind: dict[str, int] = field(default_factory=dict)
    store_bytes: int = 0
    peers: list[PeerLevels] = field(default_factory=list)
    index_items: int = 0
    ready: bool = False


class _Levels(Collector):
    """Renders the latest snapshot (prometheus collectors are synchronous)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot
        g = GaugeMetricFamily(
            "rakuichi_store_records", "Records held (not retracted), by kind", labels=["kind"]
        )
        for kind, n in sorted(snap.records_by_kind.items()):
            g.add_metric([kind], n)
        yield g
        yield GaugeMetricFamily(
            "rakuichi_store_bytes", "Size of the database files (main, WAL)", value=snap.store_bytes
        )
        yield GaugeMetricFamily(
            "rakuichi_sync_index_items", "Items in the reconciliation set", value=snap.index_items
        )
        yield GaugeMetricFamily(
            "rakuichi_ready", "1 when /readyz answers 200", value=1 if snap.ready else 0
        )
        yield GaugeMetricFamily(
            "rakuichi_verifier_queue_depth",
            "Signatures waiting for or in verification",
            value=self.metrics.node.verifier.queued,
        )
        yield self._tables()
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "backlog": GaugeMetricFamily(
                "rakuichi_peer_backlog", "Records not yet pushed to the peer", labels=["peer"]
            ),
            "failures": GaugeMetricFamily(
                "rakuichi_peer_failures",
                "Consecutive failures talking to the peer (0: healthy)",
                labels=["peer"],
            ),
            "backoff": GaugeMetricFamily(
                "rakuichi_peer_backoff_seconds",
                "Seconds until the next push attempt while backing off (0: not backing off)",
                labels=["peer"],
            ),
            "since": GaugeMetricFamily(
                "rakuichi_peer_seconds_since_success",
                "Seconds since the last successful exchange with the peer",
                labels=["peer"],
            ),
            "pushed": CounterMetricFamily(
                "rakuichi_peer_pushed_records",
                "Records pushed to the peer and taken by it",
                labels=["peer"],
            ),
            "pushed_bytes": CounterMetricFamily(
                "rakuichi_peer_pushed_bytes", "Wire bytes of records pushed", labels=["peer"]
            ),
        }
        for p in snap.peers:
            families["backlog"].add_metric([p.url], p.backlog)
            families["failures"].add_metric([p.url], p.failures)
            families["backoff"].add_metric([p.url], p.backoff_seconds)
            if p.since_success is not None:
                families["since"].add_metric([p.url], p.since_success)
            families["pushed"].add_metric([p.url], p.pushed_records)
            families["pushed_bytes"].add_metric([p.url], p.pushed_bytes)
        yield from families.values()

    def _tables(self) -> GaugeMetricFamily:
        """The sizes of the bounded in-memory tables strangers feed (docs/operations.md)."""
        family = GaugeMetricFamily(
            "rakuichi_table_entries",
            "Entries in the bounded in-memory tables fed by records and peers",
            labels=["table"],
        )
        peers = self.metrics.node.peers
        sizes = {
            "learned_keys": len(peers.by_key),
            "org_node_keys": len(peers.node_keys),
            "retired_keys": len(peers.retired),
            "replay_cache": len(peers.replay_cache),
            "sync_budgets": len(peers.sessions.spent),
        }
        fed = self.metrics.fed
        if fed is not None:
            sizes["peer_clients"] = len(fed.pool.clients)
            sizes["learning_slots"] = len(fed.roster.slots)
        for table, size in sizes.items():
            family.add_metric([table], size)
        return family


class NodeMetrics:
    def __init__(self, node: Node, fed: Federation | None) -> None:
        self.node, self.fed = node, fed
        self.registry = CollectorRegistry(auto_describe=True)
        self.snapshot = Snapshot()
        self._counted: tuple[float, dict[str, int]] | None = None
        self._counts_max_age = 0.0
        # children of the HTTP metrics by labels: ``labels()`` costs more than the count
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        r = self.registry
        self.ingested = Counter(
            "rakuichi_records_ingested",
            "New records stored, by kind and source (client: submitted here; peer)",
            ["kind", "source"],
            registry=r,
        )
        self.refused = Counter(
            "rakuichi_records_refused",
            "Records refused, by refusal class and source",
            ["class", "source"],
            registry=r,
        )
        self.received = Counter(
            "rakuichi_peer_received_records",
            "New records received from the peer",
            ["peer"],
            registry=r,
        )
        self.received_bytes = Counter(
            "rakuichi_peer_received_bytes",
            "Wire bytes of new records from the peer",
            ["peer"],
            registry=r,
        )
        self.rounds = Counter(
            "rakuichi_peer_reconcile_rounds",
            "Reconciliation rounds run with the peer",
            ["peer"],
            registry=r,
        )
        self.reconcile_bytes = Counter(
            "rakuichi_peer_reconcile_bytes",
            "Bytes of reconciliation messages exchanged with the peer",
            ["peer"],
            registry=r,
        )
        self.sessions = Counter(
            "rakuichi_peer_sync_sessions", "Anti-entropy sessions completed", ["peer"], registry=r
        )
        self.false_claims = Counter(
            "rakuichi_peer_false_claims",
            "Ids a peer claimed and did not deliver, and records it lacked again after taking them",
            ["peer"],
            registry=r,
        )
        self.http_requests = Counter(
            "rakuichi_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "rakuichi_http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        r.register(_Levels(self))
        node.ingestor.outcome_listeners.append(self.on_outcomes)
        node.ingestor.listeners.append(self.on_new)
        if fed is not None:
            fed.on_sync_report(self.on_sync)

    # ----- events
    def _peer_url(self, source: bytes) -> str:
        identity = self.node.peers.by_key.get(source)
        return identity.url if identity is not None and identity.url else did_from_raw(source)

    def on_outcomes(self, outcomes: list[Outcome], source: bytes | None) -> None:
        label = source_label(source)
        for outcome in outcomes:
            if outcome.refusal is not None:
                self.refused.labels(outcome.refusal.klass, label).inc()

    def on_new(self, records: list[Record], source: bytes | None) -> None:
        label = source_label(source)
        for record in records:
            self.ingested.labels(record.kind, label).inc()
        if source is not None:
            peer = self._peer_url(source)
            self.received.labels(peer).inc(len(records))
            self.received_bytes.labels(peer).inc(sum(len(r.wire) for r in records))

    def on_sync(self, url: str, report: SyncReport) -> None:
        self.sessions.labels(url).inc()
        self.rounds.labels(url).inc(report.rounds)
        self.reconcile_bytes.labels(url).inc(report.reconcile_bytes)
        self.false_claims.labels(url).inc(report.undelivered + report.relacked)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = "other"  # a client's made-up method must not add series without end
        counter = self._requests.get((route, method, status))
        if counter is None:
            counter = self.http_requests.labels(route, method, str(status))
            self._requests[(route, method, status)] = counter
        counter.inc()
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self.http_latency.labels(route)
        latency.observe(seconds)

    # ----- scrape
    async def render(self, ready: bool) -> bytes:
        self.snapshot = await self._read_levels(ready)
        return generate_latest(self.registry)

    async def _counts(self) -> dict[str, int]:
        """Records by kind; on a large store (the count scans it) reused for a while: up to
        50 times what counting took, at most a minute, so scrapes cost the store little."""
        now = time.monotonic()
        if self._counted is not None and now - self._counted[0] < self._counts_max_age:
            return self._counted[1]
        counts = await self.node.store.counts_by_kind()
        took = time.monotonic() - now
        self._counts_max_age = min(COUNTS_MAX_AGE, 50 * took) if took > 0.05 else 0.0
        self._counted = (time.monotonic(), counts)
        return counts

    async def _read_levels(self, ready: bool) -> Snapshot:
        node, fed = self.node, self.fed
        snap = Snapshot(ready=ready)
        snap.records_by_kind = await self._counts()
        snap.store_bytes = _database_bytes(node.config.database_path)
        if fed is None:
            return snap
        snap.index_items = len(fed.index.items) if fed.index.ready.is_set() else 0
        now_ms = node.clock.now_ms()
        for row in await fed.peer_table():
            sender = fed.senders.get(str(row["url"]))
            last = row["last_success"]
            snap.peers.append(
                PeerLevels(
                    url=str(row["url"]),
                    backlog=int(row["backlog"]),
                    failures=int(row["failures"]),
                    backoff_seconds=float(row["backoff"]),
                    since_success=None if last is None else (now_ms - int(last)) / 1000,
                    pushed_records=sender.sent if sender else 0,
                    pushed_bytes=sender.sent_bytes if sender else 0,
                )
            )
        return snap


def _database_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += path.with_name(path.name + suffix).stat().st_size
    return total
