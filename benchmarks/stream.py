"""stream: ``GET /v1/stream`` with many subscribers while records arrive at a steady rate.

One node (the real runner, HTTP server, store and verifier workers) runs with the publisher in
a fresh process for each round, so that a commit listener of its store stamps the moment each
record is committed (``time.monotonic``, one clock for every process of the machine).
SUBSCRIBERS streams are opened by separate client processes, kept lean so that they measure
the node and not themselves on the shared cores (benchmarks/streamclient.py: raw asyncio
connections, one backwards search per read for the last complete event's cursor, no HTTP or
SSE library); records are posted over HTTP in batches of 10 at RATE per second for DURATION
seconds. For each record and each subscriber the delay from its commit to the event's arrival
is measured, and (for reference) from the answer to the POST that carried it. CPU: the node
process's CPU seconds (with the publisher's, without its verifier workers') per record, times
the asked rate: the cores the node needs to keep up, whatever else loads the machine. Memory:
the process's RSS before the subscribers connect, with them connected and idle, and at its
peak while publishing (the publisher's share of it is small: it only sends prepared batches).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import msgpack

from benchmarks.common import Options, Row, report
from benchmarks.nodes import make_home, node_env, rss_bytes
from benchmarks.records import fresh
from benchmarks.streamclient import BIN_MS
from node.config import load_config
from node.runner import start_node, stop_node
from protocol import Record, parse

BATCH = 10
IN_FLIGHT = 32  # enough that the asked rate holds while a POST takes up to 0.3 s
KIB = 1024


def percentile(hist: list[int], q: float) -> float:
    total = sum(hist)
    if not total:
        return float("nan")
    seen = 0
    for slot, count in enumerate(hist):
        seen += count
        if seen >= q * total:
            return (slot + 1) * BIN_MS
    return len(hist) * BIN_MS


def merge(parts: list[list[int]]) -> list[int]:
    return [sum(column) for column in zip(*parts, strict=True)]


async def publish(
    session: aiohttp.ClientSession, url: str, wires: list[bytes], rate: float, rss_of: int
) -> tuple[list[float], list[float], int]:
    """Post ``wires`` at ``rate`` per second; send and answer times per record; peak RSS."""
    sent = [0.0] * len(wires)
    answered = [0.0] * len(wires)
    slots = asyncio.Semaphore(IN_FLIGHT)
    peak = rss_bytes(rss_of)

    async def post(first: int) -> None:
        batch = wires[first : first + BATCH]
        async with slots:
            stamp = time.monotonic()
            async with session.post(
                url + "/v1/records",
                data=msgpack.packb(batch, use_bin_type=True),
                headers={"Content-Type": "application/msgpack"},
            ) as response:
                results = (await response.json())["results"]
            done = time.monotonic()
        assert all(r.get("stored") for r in results), results[:3]
        for i in range(first, first + len(batch)):
            sent[i], answered[i] = stamp, done

    start = time.monotonic()
    tasks = []
    for first in range(0, len(wires), BATCH):
        due = start + first / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(post(first)))
        if first % (BATCH * 50) == 0:
            peak = max(peak, rss_bytes(rss_of))
    await asyncio.gather(*tasks)
    return sent, answered, max(peak, rss_bytes(rss_of))


async def one_round(options: Options, scratch: Path, n: int) -> dict[str, float]:
    subscribers, rate, duration, processes = (
        (50, 500.0, 2.0, 1) if options.quick else (1000, 1000.0, 10.0, 4)
    )
    total = int(rate * duration)
    home = make_home(
        scratch,
        f"node{n}",
        stream_max_subscribers=subscribers + 100,
        connections_per_address=subscribers + 200,
    )
    wires = fresh(total, int(time.time() * 1000), f"stream-{n}-{time.time_ns()}")
    ids = [parse(w).id.hex() for w in wires]
    ids_file, times_file = scratch / f"ids{n}.txt", scratch / f"times{n}.json"
    ids_file.write_text("\n".join(ids))
    running = await start_node(load_config(home))
    url = running.node.config.public_url
    committed = [0.0] * total
    slot_of = {bytes.fromhex(i): n for n, i in enumerate(ids)}

    def stamp(records: list[Record]) -> None:
        now = time.monotonic()
        for record in records:
            slot = slot_of.get(record.id)
            if slot is not None:
                committed[slot] = now

    running.node.store.on_commit.append(stamp)
    me = os.getpid()
    clients: list[subprocess.Popen[str]] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            await asyncio.sleep(1.0)
            rss_base = rss_bytes(me)
            per_process = subscribers // processes
            for p in range(processes):
                clients.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.streamclient",
                            url,
                            str(per_process),
                            str(ids_file),
                            str(times_file),
                            str(scratch / f"out{n}-{p}.json"),
                            str(duration + 600),
                        ],
                        stdout=subprocess.PIPE,
                        text=True,
                        env=node_env(),
                    )
                )
            for client in clients:
                assert client.stdout is not None
                # in a thread: the node, in this loop, answers the streams meanwhile
                line = await asyncio.to_thread(client.stdout.readline)
                assert line.strip() == "ready", f"subscriber process failed: {line!r}"
            await asyncio.sleep(1.0)
            rss_subscribed = rss_bytes(me)
            t0, cpu0 = time.monotonic(), time.process_time()
            _, answered, rss_peak = await publish(session, url, wires, rate, me)
            achieved = total / (time.monotonic() - t0)
            cpu = time.process_time() - cpu0  # the node's threads and the publisher
            partial = times_file.with_suffix(".partial")
            partial.write_text(json.dumps({"committed": committed, "answered": answered}))
            partial.rename(times_file)  # the clients wait for it to appear: whole
            for client in clients:
                await asyncio.to_thread(client.wait, duration + 660)
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        await stop_node(running)
    outs = [json.loads((scratch / f"out{n}-{p}.json").read_text()) for p in range(processes)]
    hist_committed = merge([o["committed"] for o in outs])
    hist_answered = merge([o["answered"] for o in outs])
    expected = total * per_process * processes
    missing = sum(o["missing"] for o in outs)
    return {
        "subscribers": per_process * processes,
        "rate": rate,
        "achieved": achieved,
        "p50_commit": percentile(hist_committed, 0.50),
        "p99_commit": percentile(hist_committed, 0.99),
        "max_commit": percentile(hist_committed, 1.0),
        "p50_answered": percentile(hist_answered, 0.50),
        "p99_answered": percentile(hist_answered, 0.99),
        "early": sum(o["early"] for o in outs) / max(1, expected - missing),
        "delivered": (expected - missing) / expected,
        "rss_base": rss_base / KIB,
        "per_subscriber": (rss_subscribed - rss_base) / KIB / (per_process * processes),
        "peak_per_subscriber": (rss_peak - rss_base) / KIB / (per_process * processes),
        "cores_at_rate": cpu / total * rate,
    }


def round_in_process(options: Options, scratch: Path, n: int) -> dict[str, float]:
    return asyncio.run(one_round(options, scratch, n))


def run(options: Options) -> list[Row]:
    started = time.time()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="rakuichi-stream-") as tmp:
        for n in range(options.rounds):
            # each round in a fresh process: its RSS growth is not hidden by memory an earlier
            # round freed but the allocator kept
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                rounds.append(pool.submit(round_in_process, options, Path(tmp), n).result())
            print(f"  round {n + 1}: {json.dumps(rounds[-1])}", flush=True)

    def col(key: str) -> list[float]:
        return [r[key] for r in rounds]

    p99 = col("p99_commit")
    rows = [
        Row(
            "p99 commit -> delivery",
            "ms",
            p99,
            "target",
            "ms",
            [100.0] * len(p99),
            "<= 100 ms",
            met=sorted(p99)[len(p99) // 2] <= 100.0,
            extra={"p50": col("p50_commit"), "max": col("max_commit")},
        ),
        Row(
            "p99 POST answered -> event",
            "ms",
            col("p99_answered"),
            target="reference: the client's view",
            extra={"p50": col("p50_answered"), "share delivered before the answer": col("early")},
        ),
        Row(
            "events delivered, of records x subscribers",
            "share",
            col("delivered"),
            "all",
            "share",
            [1.0] * len(rounds),
            "= 1",
            met=all(d == 1.0 for d in col("delivered")),
        ),
        Row(
            "records published per second",
            "rec/s",
            col("achieved"),
            "asked",
            "rec/s",
            col("rate"),
            ">= 0.95 of asked",
            met=all(a >= 0.95 * r for a, r in zip(col("achieved"), col("rate"), strict=True)),
        ),
        Row(
            "node RSS growth per subscriber (idle)",
            "KiB",
            col("per_subscriber"),
            target="reported",
            extra={"at peak while publishing": col("peak_per_subscriber")},
        ),
        Row(
            "node process CPU at the asked rate",
            "cores",
            col("cores_at_rate"),
            target="reported (CPU s per record x asked rate)",
        ),
    ]
    params = {
        "subscribers": rounds[0]["subscribers"],
        "rate": rounds[0]["rate"],
        "batch": BATCH,
        "posts_in_flight": IN_FLIGHT,
        "node_rss_before_subscribers_kib": col("rss_base"),
        "node": "in one fresh process per round (runner, HTTP, store, verifier workers), "
        "with the publisher",
        "clients": "4 processes (1 with --quick) of raw asyncio connections; per read, the "
        "cursor of the last complete event (benchmarks/streamclient.py)",
    }
    return report("stream", options, rows, params, started)
