"""Node homes and node processes (``rakuichi run``) on 127.0.0.1 for benchmarks.

The process helper is the tests' own (``tests.support.nodes.NodeProcess``): this adds what a
benchmark measures (time to the first answer, time until the sync index is loaded) and stops
every process it started (``stop_all``), whatever happens to the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from node.config import CONFIG_FILE, load_config
from node.tomlfile import dumps, read_toml, write_atomically
from tests.support import nodes as test_nodes
from tests.support.nodes import WELL_KNOWN, free_port, subprocess_env

__all__ = ["NodeProcess", "free_port", "make_home", "node_env", "set_port"]

node_env = subprocess_env


def make_home(parent: Path, name: str, port: int | None = None, **overrides: Any) -> Path:
    """A home listening on 127.0.0.1:port; keyword arguments override config values.

    The POST and search rate limits, the cap on connections per address and the storage
    quotas are off unless given: benchmarks measure the node, not its defences (the ingest
    benchmark opens 64+ connections).
    """
    off = {
        "rate_limit": 0.0,
        "search_rate_limit": 0.0,
        "connections_per_address": 0,
        "quota_bytes_per_client": 0,
        "quota_bytes_per_peer": 0,
        "quota_bytes_per_author": 0,
        "quota_bytes_unknown_kind": 0,
    }
    return test_nodes.make_home(parent, name, port, **{**off, **overrides})


def set_port(home: Path, port: int) -> None:
    set_value(home, "node", "listen", f"127.0.0.1:{port}")


def set_value(home: Path, section: str, key: str, value: Any) -> None:
    """Set one value of a home's config.toml (a cached store's home keeps its other values)."""
    data = read_toml(home / CONFIG_FILE)
    data.setdefault(section, {})[key] = value
    write_atomically(home / CONFIG_FILE, dumps(data, "benchmark node"))


class NodeProcess(test_nodes.NodeProcess):
    """The tests' node process, logging warnings only, with timed readiness."""

    def __init__(
        self, home: Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        config = load_config(home)
        host, port = config.host_port  # not its public URL: a cached store's is fixed
        if not config.domain_proof_base:  # a store cached before homes had it
            set_value(home, "node", "domain_proof_base", test_nodes.NO_PROOFS)
        args = ["--log-level", "WARNING", *extra_args]
        super().__init__(home, args, url=f"http://{host}:{port}", env=env)
        self.started_at = 0.0

    def start(self) -> NodeProcess:
        self.started_at = time.monotonic()
        super().start()
        return self

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 60.0) -> float:
        """Wait until the node answers; seconds from ``start`` to its first answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"node {self.home} exited: {self.errors()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(
                    self.url + WELL_KNOWN, timeout=aiohttp.ClientTimeout(total=2)
                ) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started_at
            await asyncio.sleep(0.01)
        raise TimeoutError(f"node {self.home} not ready in {timeout} s: {self.errors()[-2000:]}")

    async def sync_ready(self, session: aiohttp.ClientSession, timeout: float = 120.0) -> None:
        """Wait until the node's sync index is loaded (``/v1/sync`` stops answering 503)."""
        from node.transport import MSGPACK
        from protocol.itemset import MAX_BOUND, MIN_BOUND
        from protocol.reconcile import Mode, Range, encode_message

        deadline = time.monotonic() + timeout
        probe = encode_message([Range(MIN_BOUND, MAX_BOUND, Mode.SKIP)])
        while time.monotonic() < deadline:
            async with session.post(
                self.url + "/v1/sync", data=probe, headers={"Content-Type": MSGPACK}
            ) as r:
                if r.status != 503:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"node {self.home}: sync index not loaded in {timeout} s")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait; SIGKILL the whole group if it does not stop in time."""
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(timeout)

    @classmethod
    def stop_all(cls) -> None:
        cls.kill_leftovers()


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``VmRSS``), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size (``Pss`` of smaps_rollup): pages shared with other processes (the
    verifier workers are forked from the node) count once across them. 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def database_bytes(home: Path) -> int:
    """The database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in home.glob("rakuichi.db*"))
