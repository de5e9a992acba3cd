"""Watching a node: /healthz, /readyz, /metrics on real node processes (issue 11)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from node.config import load_config
from node.storage.store import Store
from tests.support import NodeProcess, make_home
from tests.support.federation import (
    Api,
    federation_home,
    http_session,
    set_peers,
    start_processes,
    wait_for,
)
from tests.support.records import Cast, now_ms, opportunity

FAKE_ROWS = 600_000  # enough that the sync index takes a visible while to load


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def fill_with_index_rows(home: Path, count: int) -> None:
    """Rows only the sync index reads (an unknown kind, no facts): a big store, quickly."""
    path = load_config(home).database_path
    asyncio.run(_create(path))
    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(
                "INSERT INTO records (id, kind, author, created, wire, received)"
                " VALUES (?, 'x.filler', ?, ?, ?, 0)",
                ((os.urandom(32), b"\0" * 32, 1_700_000_000_000 + i, b"x") for i in range(count)),
            )
    finally:
        db.close()


async def _create(path: Path) -> None:
    await (await Store.open(path)).close()


def test_healthz_and_readyz_answer_503_while_the_index_loads_then_200(tmp_path: Path) -> None:
    home = make_home(tmp_path, "big")
    fill_with_index_rows(home, FAKE_ROWS)
    proc = NodeProcess(home).start()
    url = load_config(home).public_url
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status, body = get(f"{url}/readyz")
        except (urllib.error.URLError, ConnectionError, OSError):
            assert proc.running, proc.errors()
            time.sleep(0.01)
            continue
        seen.append((status, body))
        if status == 200:
            break
    assert seen and seen[-1][0] == 200, seen[-3:]
    loading = [body for status, body in seen if status == 503]
    assert loading, f"never saw 503 while loading: {seen[:3]}"
    assert "sync index loading" in loading[0]
    assert get(f"{url}/healthz") == (200, '{"status": "ok"}')
    proc.terminate()


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, dict[tuple, float]]:
    """family name -> {(sample name, sorted labels): value}."""
    status, text = get(f"{url}/metrics", headers)
    assert status == 200, text
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families


def value(families: dict[str, dict[tuple, float]], family: str, **labels: str) -> float:
    """Sum of the family's samples whose labels include ``labels`` (counters: the _total)."""
    return sum(
        v
        for (name, sample_labels), v in families.get(family, {}).items()
        if not name.endswith(("_created", "_bucket", "_sum"))
        and set(labels.items()) <= set(sample_labels)
    )


NAMED_FAMILIES = {
    "rakuichi_records_ingested",
    "rakuichi_records_refused",
    "rakuichi_store_records",
    "rakuichi_store_bytes",
    "rakuichi_peer_backlog",
    "rakuichi_peer_failures",
    "rakuichi_peer_backoff_seconds",
    "rakuichi_peer_seconds_since_success",
    "rakuichi_peer_pushed_records",
    "rakuichi_peer_pushed_bytes",
    "rakuichi_peer_received_records",
    "rakuichi_peer_received_bytes",
    "rakuichi_peer_reconcile_rounds",
    "rakuichi_peer_reconcile_bytes",
    "rakuichi_http_requests",
    "rakuichi_http_request_duration_seconds",
    "rakuichi_verifier_queue_depth",
}


async def test_metrics_are_parsed_present_and_move_when_records_arrive(tmp_path: Path) -> None:
    a_home = federation_home(tmp_path, "a", admin_token="s3cret-token")
    b_home = federation_home(tmp_path, "b")
    a_url, b_url = (load_config(h).public_url for h in (a_home, b_home))
    set_peers(a_home, [b_url])
    set_peers(b_home, [a_url])
    await start_processes([a_home, b_home])
    cast = Cast.fresh()
    t0 = now_ms() - 60_000
    records = [opportunity(cast.org, t0 + i, slug=f"job-{i}") for i in range(20)]
    async with http_session() as session:
        api = Api(session)
        await wait_for(lambda: api.peer_row(a_url, b_url), 30, "a knows b")
        before_a = await asyncio.to_thread(scrape, a_url)
        before_b = await asyncio.to_thread(scrape, b_url)
        await api.post(a_url, records)
        future = opportunity(cast.org, now_ms() + 86_400_000, slug="later")
        (refused,) = await api.client(a_url).post_records([future.wire])
        assert refused.get("class") == "time", refused

        async def moved() -> dict[str, dict[tuple, float]] | None:
            a = await asyncio.to_thread(scrape, a_url)
            b = await asyncio.to_thread(scrape, b_url)
            done = (
                value(b, "rakuichi_records_ingested", source="peer")
                >= value(before_b, "rakuichi_records_ingested", source="peer") + 20
                and value(a, "rakuichi_peer_pushed_records", peer=b_url) >= 20
                and value(a, "rakuichi_peer_reconcile_rounds", peer=b_url) > 0
            )
            return {"a": a, "b": b} if done else None  # type: ignore[return-value]

        after = await wait_for(moved, 60, "metrics moved on both nodes", interval=0.5)
    a, b = after["a"], after["b"]  # type: ignore[index]
    assert set(a) >= NAMED_FAMILIES, NAMED_FAMILIES - set(a)
    kind = "opportunity"
    assert value(a, "rakuichi_records_ingested", kind=kind, source="client") == 20
    assert value(a, "rakuichi_store_records", kind=kind) == 20
    assert value(b, "rakuichi_store_records", kind=kind) == 20
    assert value(b, "rakuichi_peer_received_records", peer=a_url) >= 20
    assert value(b, "rakuichi_peer_received_bytes", peer=a_url) > 20 * 100
    assert value(a, "rakuichi_peer_pushed_bytes", peer=b_url) > 20 * 100
    assert value(a, "rakuichi_peer_backlog", peer=b_url) == 0
    assert value(a, "rakuichi_peer_failures", peer=b_url) == 0
    assert value(a, "rakuichi_peer_reconcile_bytes", peer=b_url) > 0
    assert value(a, "rakuichi_records_refused", source="client") == 1 + value(
        before_a, "rakuichi_records_refused", source="client"
    )
    assert value(a, "rakuichi_records_refused", **{"class": "time"}) >= 1
    assert value(a, "rakuichi_store_bytes") > value(before_a, "rakuichi_store_bytes") * 0.5
    posts = value(a, "rakuichi_http_requests", route="/v1/records", method="POST")
    assert posts >= 2
    timed = a["rakuichi_http_request_duration_seconds"]
    assert (
        sum(
            v
            for (name, labels), v in timed.items()
            if name.endswith("_count") and ("route", "/v1/records") in labels
        )
        >= 2
    )
    # from another host (as a proxy would forward it): the admin token is needed
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert get(f"{a_url}/metrics", forwarded)[0] == 403
    bad = {**forwarded, "Authorization": "Bearer wrong"}
    assert get(f"{a_url}/metrics", bad)[0] == 403
    good = {**forwarded, "Authorization": "Bearer s3cret-token"}
    assert "rakuichi_store_records" in scrape(a_url, good)
    assert get(f"{b_url}/metrics", {**forwarded, "Authorization": "Bearer "})[0] == 403
    # a client's made-up methods are counted under "other", not as series of their own
    for made_up in ("PROPFIND", "MKCOL"):  # methods the HTTP parser knows
        status, _ = get(f"{a_url}/v1/records", method=made_up)
        assert status == 405, (made_up, status)
    methods = {
        dict(labels).get("method") for (_, labels) in scrape(a_url)["rakuichi_http_requests"]
    }
    assert "other" in methods and not methods & {"PROPFIND", "MKCOL"}, methods
