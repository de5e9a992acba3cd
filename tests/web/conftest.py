"""Browser tests: two real node processes (A and B, peers of each other) holding a scene of
records published at A, and a headless Chromium reading B's board."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crypto import SigningKey
from node.config import load_keys
from protocol import kinds
from protocol.record import Record
from tests.support.browser_fixtures import *  # noqa: F403
from tests.support.federation import federation_home, set_peers
from tests.support.nodes import NodeProcess
from tests.web.scene import Scene, build_scene


def post_record(base: str, record: Record) -> dict[str, object]:
    request = urllib.request.Request(
        base + "/v1/records",
        data=record.wire,
        headers={"Content-Type": "application/msgpack"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def held(base: str, record_id: bytes) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/v1/records/{record_id.hex()}", timeout=5):
            return True
    except urllib.error.HTTPError:
        return False


def wait_held(base: str, ids: list[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    missing = list(ids)
    while missing and time.monotonic() < deadline:
        missing = [i for i in missing if not held(base, i)]
        if missing:
            time.sleep(0.2)
    assert not missing, f"{base} did not receive {len(missing)} record(s) in {timeout} s"


@dataclass
class Pair:
    """Node processes A and B, peered both ways."""

    a: NodeProcess
    b: NodeProcess
    a_org: SigningKey
    homes: list[Path] = field(default_factory=list)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("web")
    homes = [federation_home(root, name) for name in ("a", "b")]
    procs = [NodeProcess(h) for h in homes]
    set_peers(homes[0], [procs[1].url])
    set_peers(homes[1], [procs[0].url])
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_ready(30)
        yield Pair(procs[0], procs[1], load_keys(homes[0]).org, homes)
    finally:
        for p in procs:
            if p.proc is not None:
                p.kill()


@pytest.fixture(scope="module")
def scene(pair: Pair) -> Scene:
    """The scene published at A, and held at B (replicated) before any test reads B."""
    built = build_scene(pair.a_org, relations="relation" in kinds.KINDS[kinds.ALLIANCE].fields)
    for record in built.records:
        result = post_record(pair.a.url, record)
        assert "id" in result, result
    wait_held(pair.b.url, built.held_ids())
    return built
