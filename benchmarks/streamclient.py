"""One subscriber process of the stream benchmark: CONNECTIONS open ``/v1/stream`` streams.

``python -m benchmarks.streamclient URL CONNECTIONS IDS_FILE TIMES_FILE OUT_FILE DEADLINE``

IDS_FILE holds the published ids (hex, one a line, in publishing order). The process prints
``ready`` once every stream answered and records when each event arrives on each
connection (``time.monotonic``, one clock for every process of the machine). It then waits for
TIMES_FILE (JSON: each record's commit time, stamped by the node's commit listener, and the
time the POST carrying it was answered) and writes histograms of the delays to OUT_FILE
(JSON), so that no per-event data crosses processes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from array import array
from pathlib import Path
from urllib.parse import urlsplit

BIN_MS = 1.0
BINS = 20_000  # 20 s


class StreamReader(asyncio.Protocol):
    def __init__(self, index: dict[bytes, int], arrivals: array[float], opened: asyncio.Event):
        self.index, self.arrivals, self.opened = index, arrivals, opened
        self.tail = b""
        self.events = 0

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.opened.is_set() and b"200 OK" in data[:20]:
            self.opened.set()
        buf = self.tail + data
        at = 0
        while True:
            at = buf.find(b'"id":"', at)
            if at < 0 or at + 70 > len(buf):
                break
            slot = self.index.get(buf[at + 6 : at + 70])
            if slot is not None and self.arrivals[slot] == 0.0:
                self.arrivals[slot] = now
                self.events += 1
            at += 70
        self.tail = buf[-80:]


async def main(argv: list[str]) -> None:
    url, count, ids_file, times_file, out_file, deadline = argv
    ids = Path(ids_file).read_text().split()
    index = {i.encode(): n for n, i in enumerate(ids)}
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    readers: list[StreamReader] = []

    async def subscribe() -> None:
        opened = asyncio.Event()
        reader = StreamReader(index, array("d", bytes(8 * len(ids))), opened)
        transport, _ = await loop.create_connection(lambda: reader, parts.hostname, parts.port)
        request = f"GET /v1/stream HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
        transport.write(request.encode())  # type: ignore[union-attr]
        await asyncio.wait_for(opened.wait(), 120)
        readers.append(reader)

    for start in range(0, int(count), 50):  # 50 at a time: the node's accept queue is finite
        await asyncio.gather(*(subscribe() for _ in range(start, min(int(count), start + 50))))
    print("ready", flush=True)
    end = time.monotonic() + float(deadline)
    while not Path(times_file).exists() and time.monotonic() < end:
        await asyncio.sleep(0.2)
    times = json.loads(Path(times_file).read_text())
    while time.monotonic() < end and sum(r.events for r in readers) < len(ids) * len(readers):
        await asyncio.sleep(0.2)
    committed, answered = times["committed"], times["answered"]
    hist_committed, hist_answered = [0] * BINS, [0] * BINS
    missing = 0
    early = 0  # delivered before the POST was answered (commit precedes the answer)
    for reader in readers:
        for slot, arrived in enumerate(reader.arrivals):
            if arrived == 0.0:
                missing += 1
                continue
            delay = max(0.0, arrived - committed[slot])
            hist_committed[min(BINS - 1, int(delay * 1000 / BIN_MS))] += 1
            late = arrived - answered[slot]
            if late < 0:
                early += 1
            hist_answered[min(BINS - 1, max(0, int(late * 1000 / BIN_MS)))] += 1
    Path(out_file).write_text(
        json.dumps(
            {
                "committed": hist_committed,
                "answered": hist_answered,
                "missing": missing,
                "early": early,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
