"""Real nodes for tests: homes, in-process nodes on free ports, and node processes.

Everything listens on 127.0.0.1 only. ``running_node`` runs a node inside the test's event loop
(the real runner, aiohttp server and SQLite store); ``NodeProcess`` runs ``python -m node run``
(or the ``rakuichi`` console script) as a child process in its own process group, so that a
test can SIGKILL it, restart it, and read what it printed from files in its home.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from node.clock import Clock
from node.config import CONFIG_FILE, FederationConfig, NodeConfig, load_config
from node.home import init_home
from node.limits import Limits
from node.runner import start_node, stop_node
from node.service import Node
from node.tomlfile import dumps, read_toml, write_atomically

REPO_ROOT = Path(__file__).resolve().parents[2]
WELL_KNOWN = "/.well-known/rakuichi"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_NODE_FIELDS = {f.name for f in dataclasses.fields(NodeConfig)} - {"home", "federation", "limits"}
_FEDERATION_FIELDS = {f.name for f in dataclasses.fields(FederationConfig)}
_LIMITS_FIELDS = {f.name for f in dataclasses.fields(Limits)}


# where test nodes fetch domain proofs unless a test serves them: nothing listens there, so a
# profile naming a real domain (example.org) never sends the node off this machine
NO_PROOFS = "http://127.0.0.1:9"


def make_home(
    tmp_path: Path,
    name: str,
    port: int | None = None,
    key_events: bool = False,
    **config_overrides: Any,
) -> Path:
    """A node home ``tmp_path/name`` (keys without passphrase) listening on 127.0.0.1:port.

    ``key_events`` gives the organisation a key history as ``rakuichi init`` does; without it
    ``org.key`` is the organisation's only key (what most tests check).

    Keyword arguments override ``config.toml`` values: fields of ``[node]`` (``url``,
    ``about``, ``max_body_bytes``...) or of ``[federation]`` (``deny_orgs`` as did:key
    strings, ``push_interval``...) or of ``[limits]`` (``header_timeout``...), by name.
    Test nodes all listen on 127.0.0.1, so ``learn_private`` is on unless a test says not, and
    they fetch domain proofs from ``NO_PROOFS`` unless a test gives ``domain_proof_base``.
    """
    home = tmp_path / name
    port = free_port() if port is None else port
    init_home(home, name, f"127.0.0.1:{port}", key_events=key_events)
    config_overrides = {"learn_private": True, "domain_proof_base": NO_PROOFS, **config_overrides}
    if config_overrides:
        data = read_toml(home / CONFIG_FILE)
        for key, value in config_overrides.items():
            if key == "storage_url":
                data.setdefault("storage", {})["url"] = value
            elif key in _NODE_FIELDS:
                data.setdefault("node", {})[key] = value
            elif key in _FEDERATION_FIELDS:
                data.setdefault("federation", {})[key] = value
            elif key in _LIMITS_FIELDS:
                data.setdefault("limits", {})[key] = value
            else:
                raise TypeError(f"make_home: no config field {key!r}")
        write_atomically(home / CONFIG_FILE, dumps(data, "test node"))
    return home


def base_url(node: Node) -> str:
    return node.config.public_url


@asynccontextmanager
async def running_node(home: Path, clock: Clock | None = None) -> AsyncIterator[Node]:
    """The node of ``home`` serving HTTP in this event loop (validation inline, no workers)."""
    running = await start_node(load_config(home), clock=clock, verifier_workers=0)
    try:
        yield running.node
    finally:
        await stop_node(running)


def rakuichi_command() -> list[str]:
    """The console script beside this interpreter when installed, else ``python -m node``."""
    script = Path(sys.executable).with_name("rakuichi")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "node"]


def subprocess_env() -> dict[str, str]:
    """The environment for a CLI child: this checkout importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("RAKUICHI_PASSPHRASE", None)
    return env


def run_cli(
    *args: str | os.PathLike[str], timeout: float = 30.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one ``rakuichi`` command to completion; output is captured as text."""
    return subprocess.run(
        [*rakuichi_command(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(),
        cwd=cwd or REPO_ROOT,
        check=False,
    )


def http_get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class NodeProcess:
    """``rakuichi run --home HOME`` as a child process; stdout/stderr go to files in HOME.

    Every instance started is remembered until it has exited, so that a fixture can kill what
    a failing test left running (``NodeProcess.kill_leftovers()``).
    """

    live: ClassVar[set[NodeProcess]] = set()
    # a home on PostgreSQL runs as a node of this many worker processes (``run --workers N``)
    # unless the test passes ``--workers`` itself; the ``federation_engine`` fixture sets it
    postgres_workers: ClassVar[int] = 1

    def __init__(
        self,
        home: Path,
        extra_args: Sequence[str] = (),
        url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.extra_args = list(extra_args)
        self.env = env or {}  # set on top of subprocess_env()
        self._url = url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def stdout_path(self) -> Path:
        return self.home / "node.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.home / "node.stderr.log"

    @property
    def url(self) -> str:
        """The node's base URL (read from its config once the home exists)."""
        if self._url is None:
            self._url = load_config(self.home).public_url
        return self._url

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> NodeProcess:
        """Start the process (not waiting for it to listen: see ``wait_ready``)."""
        assert not self.running, "already running"
        # `run` initialises a home that has no config.toml yet, even in an existing directory.
        self.home.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [*rakuichi_command(), "run", "--home", str(self.home), *self._run_args()],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**subprocess_env(), **self.env},
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        self.starts += 1
        NodeProcess.live.add(self)
        return self

    def _run_args(self) -> list[str]:
        args = list(self.extra_args)
        if self.postgres_workers > 1 and "--workers" not in args and self._on_postgresql():
            args += ["--workers", str(self.postgres_workers)]
        return args

    def _on_postgresql(self) -> bool:
        config = self.home / CONFIG_FILE
        return config.exists() and load_config(self.home).postgresql_dsn is not None

    def output(self) -> str:
        """Everything the process printed on stdout so far (all runs)."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = 5.0) -> str:
        """Poll stdout until ``text`` appears; return all of it.

        A node accepts connections a moment before it prints that it is running, so a test
        that has seen it answer must still wait for the line.
        """
        deadline = time.monotonic() + timeout
        while text not in (output := self.output()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not printed after {timeout} s\n{self._describe()}")
            time.sleep(0.02)
        return output

    def _describe(self) -> str:
        return (
            f"node process in {self.home}: exit code "
            f"{None if self.proc is None else self.proc.poll()}\n"
            f"--- stdout ---\n{self.output()[-2000:]}\n"
            f"--- stderr ---\n{self.errors()[-4000:]}"
        )

    def wait_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        """Poll ``GET /.well-known/rakuichi`` until it answers; return the identity."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise RuntimeError(f"the node exited before it was ready\n{self._describe()}")
            if (self.home / CONFIG_FILE).exists():
                try:
                    return http_get_json(self.url + WELL_KNOWN, timeout=1.0)
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"node not ready after {timeout} s\n{self._describe()}")
            time.sleep(0.05)

    async def await_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        """``wait_ready`` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_ready, timeout)

    def _signal_group(self, sig: int) -> None:
        """Signal this process's own group (it leads its session), only while the leader has
        not been reaped: its pid, hence the group id, cannot have been reused."""
        assert self.proc is not None
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for the exit code (SIGKILL if it does not stop in time)."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        NodeProcess.live.discard(self)
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL the process and everything in its process group (verifier workers)."""
        assert self.proc is not None, "not started"
        self._signal_group(signal.SIGKILL)
        self.proc.wait(10)
        NodeProcess.live.discard(self)
        return self.proc.returncode

    def restart(self, timeout: float = 15.0) -> dict[str, Any]:
        """Stop (SIGTERM) if running, start again and wait until ready."""
        if self.running:
            self.terminate()
        self.start()
        return self.wait_ready(timeout)

    @classmethod
    def kill_leftovers(cls) -> list[Path]:
        """Kill every node process still running; return the homes of those it killed."""
        killed = []
        for proc in list(cls.live):
            if proc.running:
                killed.append(proc.home)
            if proc.proc is not None:
                proc.kill()
            cls.live.discard(proc)
        return killed
