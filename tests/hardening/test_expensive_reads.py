"""Bundle checks against a node process: hostile JSON is 400 (before: 500), bundles are capped
in records and in bytes (``bundle_max_bytes``: 413), and the check runs off the event loop, so
other requests stay fast meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp

from protocol import write_bundle
from tests.support import attestation, did, fresh_key, now_ms, opportunity
from tests.support.nodes import NodeProcess, make_home

JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}


async def _verify(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with session.post(url + "/v1/reputation/verify", data=body, headers=JSON) as response:
        return response.status, await response.text()


async def test_bundle_check_is_capped_and_off_the_event_loop(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target", bundle_max_records=1200))
    await proc.await_ready()
    subject = fresh_key().public_key.raw
    t0 = now_ms()
    records = [opportunity(fresh_key(), t0, slug=f"b{i}") for i in range(1200)]
    big = write_bundle(subject, records)
    too_many = write_bundle(subject, [*records, opportunity(fresh_key(), t0, slug="extra")])
    nested = b"[" * 200_000 + b"]" * 200_000
    async with aiohttp.ClientSession() as session:
        hostile = await _verify(session, proc.url, nested)
        capped = await _verify(session, proc.url, too_many)

        async def latencies() -> list[float]:
            took = []
            for _ in range(20):
                start = time.monotonic()
                async with session.get(proc.url + "/.well-known/rakuichi") as response:
                    await response.read()
                took.append(time.monotonic() - start)
                await asyncio.sleep(0.02)
            return took

        start = time.monotonic()
        checking = asyncio.create_task(_verify(session, proc.url, big))
        await asyncio.sleep(0.05)
        took = await latencies()
        checked = await checking
        check_time = time.monotonic() - start
    print(
        f"\nnested JSON: {hostile[0]}; {len(records) + 1} records over a cap of 1200:"
        f" {capped[0]}; check of {len(big)} bytes took {check_time:.2f} s, normal GETs"
        f" meanwhile at most {max(took) * 1000:.0f} ms"
    )
    assert hostile[0] == 400 and '"bundle"' in hostile[1]
    assert capped[0] == 400 and "over" in capped[1]
    assert checked[0] == 200
    assert max(took) < max(0.25, check_time / 3), took


async def test_reputation_lists_are_paged_summary_whole(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    proc = node_process(make_home(tmp_path, "target"))
    await proc.await_ready()
    subject = fresh_key()
    t0 = now_ms()
    wires = [attestation(fresh_key(), subject, t0 + i, claim="rating").wire for i in range(7)]
    async with aiohttp.ClientSession() as session:
        for wire in wires:
            async with session.post(proc.url + "/v1/records", data=wire, headers=MSGPACK) as r:
                assert r.status == 201
        pages = []
        query = "?limit=3"
        while True:
            async with session.get(f"{proc.url}/v1/reputation/{did(subject)}{query}") as r:
                assert r.status == 200
                page = await r.json()
            pages.append(page)
            if not page.get("next") or len(pages) > 5:
                break
            query = f"?limit=3&cursor={page['next']}"
    sizes = [len(p["attestations"]) for p in pages]
    print(f"\n7 attestations, limit 3: pages of {sizes}")
    assert sizes == [3, 3, 1]
    ids = {e["id"] for p in pages for e in p["attestations"]}
    assert len(ids) == 7
    assert all(p["summary"] == pages[0]["summary"] for p in pages)


async def test_a_bundle_over_bundle_max_bytes_is_413(
    tmp_path: Path, node_process: Callable[..., NodeProcess]
) -> None:
    """Refused as soon as the body passes the cap: at once when ``Content-Length`` says so,
    else (chunked) once that many bytes have arrived; the rest is never read."""
    cap = 64 * 1024
    proc = node_process(make_home(tmp_path, "target", bundle_max_bytes=cap))
    await proc.await_ready()
    subject = fresh_key().public_key.raw
    t0 = now_ms()
    bundle = write_bundle(subject, [opportunity(fresh_key(), t0, slug=f"c{i}") for i in range(400)])
    assert len(bundle) > cap
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for start in range(0, 64 * cap, 8192):  # 4 MiB at most, if the node read it all
            sent += 8192
            yield b" " * 8192 if start else bundle[:8192]
            await asyncio.sleep(0.001)

    async with aiohttp.ClientSession() as session:
        declared = await _verify(session, proc.url, bundle)
        try:
            async with session.post(
                proc.url + "/v1/reputation/verify", data=chunks(), headers=JSON
            ) as response:
                chunked: tuple[int, str] | str = (response.status, await response.text())
        except (aiohttp.ClientError, ConnectionError) as exc:
            chunked = f"connection closed: {type(exc).__name__}"
        small = await _verify(session, proc.url, write_bundle(subject, []))
    print(
        f"\nbundle of {len(bundle)} bytes over a cap of {cap}: {declared[0]}; chunked: "
        f"{chunked if isinstance(chunked, str) else chunked[0]} after {sent} bytes sent;"
        f" a small bundle then: {small[0]}"
    )
    assert declared[0] == 413 and '"size"' in declared[1]
    assert isinstance(chunked, str) or chunked[0] == 413, chunked
    assert sent < 16 * cap, "the node read far past the cap"
    assert small[0] == 200
