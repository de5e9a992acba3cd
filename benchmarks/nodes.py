"""Node homes and node processes (``python -m node run``) on 127.0.0.1 for benchmarks.

Every process started here is remembered and stopped by ``stop_all`` (SIGTERM, then SIGKILL
of its process group, which holds its verifier workers), whatever happens to the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from benchmarks.common import REPO_ROOT
from node.config import CONFIG_FILE, load_config
from node.home import init_home
from node.tomlfile import dumps, read_toml, write_atomically

NODE_FIELDS = {"url", "about", "max_body_bytes", "rate_limit", "rate_burst"}
WELL_KNOWN = "/.well-known/rakuichi"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_home(parent: Path, name: str, port: int | None = None, **overrides: Any) -> Path:
    """A home listening on 127.0.0.1:port; keyword arguments override config values.

    The rate limit, the storage quotas and the per-address connection cap are off unless
    given: benchmarks measure the node, not its defences.
    """
    home = parent / name
    init_home(home, name, f"127.0.0.1:{port or free_port()}")
    overrides = {"rate_limit": 0.0, **overrides}
    data = read_toml(home / CONFIG_FILE)
    data.setdefault("limits", {}).update(
        {
            "quota_bytes_per_client": 0,
            "quota_bytes_per_peer": 0,
            "quota_bytes_per_author": 0,
            "quota_bytes_unknown_kind": 0,
            "connections_per_address": 0,
        }
    )
    for key, value in overrides.items():
        if key == "storage_url":
            data.setdefault("storage", {})["url"] = value
            continue
        data.setdefault("node" if key in NODE_FIELDS else "federation", {})[key] = value
    write_atomically(home / CONFIG_FILE, dumps(data, "benchmark node"))
    return home


def set_port(home: Path, port: int) -> None:
    data = read_toml(home / CONFIG_FILE)
    data["node"]["listen"] = f"127.0.0.1:{port}"
    write_atomically(home / CONFIG_FILE, dumps(data, "benchmark node"))


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("RAKUICHI_PASSPHRASE", None)
    return env


class NodeProcess:
    """``python -m node run --home HOME`` in its own process group; output in HOME/*.log."""

    live: ClassVar[set[NodeProcess]] = set()

    def __init__(
        self, home: Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.extra_args = list(extra_args)
        self.env = env or {}
        host, port = load_config(home).host_port
        self.url = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> NodeProcess:
        with (
            (self.home / "node.stdout.log").open("ab") as out,
            (self.home / "node.stderr.log").open("ab") as err,
        ):
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "node",
                    "run",
                    "--home",
                    str(self.home),
                    "--log-level",
                    "WARNING",
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**node_env(), **self.env},
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        NodeProcess.live.add(self)
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

    def errors(self) -> str:
        path = self.home / "node.stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait; SIGKILL the whole group if it does not stop in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        NodeProcess.live.discard(self)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        NodeProcess.live.discard(self)

    def _reap_group(self) -> None:
        """Workers left in the group after the leader exited (should not happen): kill them."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 0)
            os.killpg(self.proc.pid, signal.SIGKILL)

    @classmethod
    def stop_all(cls) -> None:
        for proc in list(cls.live):
            proc.kill()
            proc._reap_group()


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
