"""A-B-C: C is SIGKILLed while A keeps publishing, then restarted; nothing A acknowledged is lost.

B's outbox for C must resume by itself: its persisted cursor, backoff capped by
``max_backoff`` (2 s here), and anti-entropy bring C up to date, and B's peer table shows C's
backlog back at 0 with a success after the restart.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from node.config import load_config
from protocol.record import Record
from tests.support import Cast, now_ms, opportunity, unknown_kind
from tests.support.federation import (
    Api,
    federation_home,
    line_topology,
    start_processes,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("federation_engine")]


class Publisher:
    """Posts one record at a time to a node until stopped; keeps the ids it acknowledged."""

    def __init__(self, api: Api, url: str, cast: Cast, pause: float = 0.03) -> None:
        self.api, self.url, self.cast, self.pause = api, url, cast, pause
        self.acked: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self._t0 = now_ms() - 600_000

    def record(self, i: int) -> Record:
        if i % 2:
            return unknown_kind(self.cast.outsider, self._t0 + i, note=f"note {i}")
        return opportunity(self.cast.org, self._t0 + i, slug=f"role-{i}", title=f"Role {i}")

    async def _run(self) -> None:
        client = self.api.client(self.url)
        for i in itertools.count():
            result = await client.post_record(self.record(i).wire)  # raises unless accepted
            assert result["stored"], result
            self.acked.append(result["id"])
            await asyncio.sleep(self.pause)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # a publishing failure is the test's failure
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def wait_acked(self, count: int, timeout: float = 10.0) -> None:
        async def enough() -> bool:
            assert self.task is not None and not self.task.done(), "publisher stopped"
            return len(self.acked) >= count

        await wait_for(enough, timeout, f"{count} records acknowledged", interval=0.02)


async def test_killed_node_catches_up_and_outbox_resumes(tmp_path, api: Api) -> None:
    homes = [federation_home(tmp_path, name) for name in "abc"]
    line_topology(homes, [load_config(h).public_url for h in homes])
    a_proc, b_proc, c_proc = await start_processes(homes)
    a, b, c = a_proc.url, b_proc.url, c_proc.url

    publisher = Publisher(api, a, Cast.fresh())
    publisher.start()
    try:
        await publisher.wait_acked(10)
        await wait_for(
            lambda: api.all_hold([c], publisher.acked[:5]), 15.0, "the first records at C"
        )

        c_proc.kill()  # SIGKILL: no shutdown, no flush beyond what was committed
        killed_at = len(publisher.acked)
        await publisher.wait_acked(killed_at + 30)
        down = await wait_for(lambda: _failing(api, b, c), 15.0, "B seeing C down")
        assert down["error"], down

        c_proc.start()
        await c_proc.await_ready()
        restarted_ms = now_ms()
        resumed_at = len(publisher.acked)
        await publisher.wait_acked(resumed_at + 20)
    finally:
        await publisher.stop()

    acked = list(publisher.acked)
    assert len(acked) > resumed_at > killed_at, "records were published while C was dead"
    started = time.monotonic()
    await wait_for(
        lambda: api.all_hold([b, c], acked),
        30.0,
        f"all {len(acked)} acknowledged records at B and C",
    )
    caught_up = time.monotonic() - started

    async def outbox_resumed() -> dict | None:
        row = await api.peer_row(b, c)
        ok = (
            row is not None
            and row["backlog"] == 0
            and row["failures"] == 0
            and (row["last_success"] or 0) >= restarted_ms
        )
        return row if ok else None

    row = await wait_for(outbox_resumed, 20.0, "B's outbox for C drained after the restart")
    assert row["error"] is None

    async def a_drained() -> dict | None:  # the publisher may have been cancelled mid-post:
        row = await api.peer_row(a, b)  # A stored a record it never acknowledged, sent later
        return row if row is not None and row["backlog"] == 0 else None

    await wait_for(a_drained, 20.0, "A's outbox for B drained")
    print(
        f"crash: {len(acked)} acknowledged ({resumed_at - killed_at} while C was dead); "
        f"C complete {caught_up:.1f} s after publishing stopped"
    )


async def _failing(api: Api, url: str, peer: str) -> dict | None:
    row = await api.peer_row(url, peer)
    return row if row is not None and row["failures"] > 0 else None
