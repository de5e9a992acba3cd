"""One subscriber process of the stream benchmark: CONNECTIONS open ``/v1/stream`` streams.

``python -m benchmarks.streamclient URL CONNECTIONS IDS_FILE TIMES_FILE OUT_FILE DEADLINE``

The client is kept lean, so that the benchmark measures the node and not its subscribers
(they share the machine's cores): raw asyncio connections, no HTTP or SSE library. On each
read a connection notes only the time and the cursor (``id:``) of the last complete event in
it, found from the end of the read (a backwards search of a few hundred bytes); events of a
stream come in cursor order, so every event up to that cursor had arrived by then. One
connection of the process also keeps its whole text, from which the cursor of each published
record is learnt (every subscriber takes every record, in the same cursor order).

IDS_FILE holds the published ids (hex, one a line). The process prints ``ready`` once every
stream answered, then waits for TIMES_FILE (JSON: each record's commit time, stamped by the
node's commit listener, and the time the POST carrying it was answered; ``time.monotonic``,
one clock for every process of the machine) and writes histograms of the delays to OUT_FILE
(JSON), so that no per-event data crosses processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from array import array
from pathlib import Path
from urllib.parse import urlsplit

BIN_MS = 1.0
BINS = 20_000  # 20 s
EVENT = re.compile(rb"(?<=\n)id: (\d+)\nevent: [^\n]*\ndata: ([^\n]*)\n\n")


class StreamReader(asyncio.Protocol):
    """Times at which each cursor had arrived on one connection."""

    def __init__(self, opened: asyncio.Event, keep_text: bool) -> None:
        self.opened = opened
        self.tail = b""
        self.times = array("d")
        self.cursors = array("q")  # the last complete event's cursor at each of ``times``
        self.last = 0
        self.text: bytearray | None = bytearray() if keep_text else None

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.opened.is_set() and b"200 OK" in data[:20]:
            self.opened.set()
        if self.text is not None:
            self.text += data
        buf = self.tail + data if self.tail else data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.tail = buf
            return
        self.tail = buf[end + 2 :]
        at = buf.rfind(b"\nid: ", 0, end)
        if at >= 0:
            cursor = int(buf[at + 5 : buf.index(b"\n", at + 5)])
            if cursor > self.last:
                self.last = cursor
                self.times.append(now)
                self.cursors.append(cursor)


def cursors_of(text: bytes, index: dict[str, int]) -> list[tuple[int, int]]:
    """(cursor, slot of the published record) of every published record in a stream's text."""
    found = []
    for match in EVENT.finditer(text):
        slot = index.get(json.loads(match.group(2))["id"])
        if slot is not None:
            found.append((int(match.group(1)), slot))
    return found


async def main(argv: list[str]) -> None:
    url, count, ids_file, times_file, out_file, deadline = argv
    ids = Path(ids_file).read_text().split()
    index = {i: n for n, i in enumerate(ids)}
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    readers: list[StreamReader] = []

    async def subscribe(keep_text: bool) -> None:
        opened = asyncio.Event()
        reader = StreamReader(opened, keep_text)
        transport, _ = await loop.create_connection(lambda: reader, host, port)
        request = f"GET /v1/stream HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
        transport.write(request.encode())  # type: ignore[union-attr]
        await asyncio.wait_for(opened.wait(), 120)
        readers.append(reader)

    await subscribe(keep_text=True)  # the reference: readers[0]
    for start in range(1, int(count), 50):  # 50 at a time: the node's accept queue is finite
        await asyncio.gather(*(subscribe(False) for _ in range(start, min(int(count), start + 50))))
    print("ready", flush=True)
    end = time.monotonic() + float(deadline)
    while not Path(times_file).exists() and time.monotonic() < end:
        await asyncio.sleep(0.2)
    times = json.loads(Path(times_file).read_text())
    reference = readers[0]
    assert reference.text is not None
    while time.monotonic() < end:
        published = cursors_of(bytes(reference.text), index)
        top = published[-1][0] if len(published) == len(ids) else None
        if top is not None and all(r.last >= top for r in readers):
            break
        await asyncio.sleep(0.5)
    committed, answered = times["committed"], times["answered"]
    hist_committed, hist_answered = [0] * BINS, [0] * BINS
    missing = len(ids) * len(readers) - len(published) * len(readers)
    early = 0  # delivered before the POST was answered (commit precedes the answer)
    for reader in readers:
        step, stamps, cursors = 0, reader.times, reader.cursors
        for cursor, slot in published:
            while step < len(cursors) and cursors[step] < cursor:
                step += 1
            if step == len(cursors):
                missing += 1
                continue
            arrived = stamps[step]
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
