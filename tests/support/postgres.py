"""A real, throwaway PostgreSQL server for the tests: its own cluster in a temporary directory.

The server is the Debian ``postgresql`` package's (``.ci/run`` installs it when missing),
started with ``initdb`` + ``pg_ctl`` on a free port of 127.0.0.1 and a Unix socket in the same
directory. PostgreSQL refuses to run as root, and CI runs as root: the cluster then belongs to
the ``postgres`` system user (or ``nobody``) and is run through ``runuser``. Durability knobs are
off (``fsync``, ``full_page_writes``): the tests kill node processes, never this server.

``RAKUICHI_TEST_POSTGRES`` set to a DSN uses that server instead (each test still gets its own
database).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.nodes import free_port

ENV_DSN = "RAKUICHI_TEST_POSTGRES"
SUPERUSER = "rakuichi"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (``apt-get install postgresql``)."""


def bin_dir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: the newest Debian cluster version, else PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found: install the Debian package `postgresql` "
        "(.ci/run does) or set RAKUICHI_TEST_POSTGRES to a server's DSN"
    )


def _run_as() -> str | None:
    """The unprivileged user to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and neither `postgres` nor `nobody` exists")


class PostgresServer:
    """One cluster: ``start()`` returns once it accepts connections; ``stop()`` removes it."""

    def __init__(self, root: Path | None = None, keep: bool = False) -> None:
        """``keep``: a cluster in ``root`` that outlives ``stop()`` and is reused by the next
        ``start()`` (the benchmarks' cache of big stores); otherwise a throwaway one."""
        self.keep = keep
        self.root = Path(root or tempfile.mkdtemp(prefix="rakuichi-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = _run_as()
        self.bin = bin_dir()
        self.started = False

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, args: Sequence[str]) -> list[str]:
        full = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", self.user, "--", *full] if self.user else full

    def _check(self, args: Sequence[str]) -> None:
        result = subprocess.run(
            self._cmd(args), capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            os.chown(self.root, uid, -1)
        os.chmod(self.root, 0o700)
        if not (self.keep and (self.data / "PG_VERSION").exists()):
            self._check(
                [
                    *("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust"),
                    *("-E", "UTF8", "--no-locale", "--no-sync"),
                ]
            )
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c shared_buffers=64MB",
            ]
        )
        log = self.root / "server.log"
        self._check(["pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start"])
        self.started = True
        return self.dsn

    def stop(self) -> None:
        if self.started:
            mode = "fast" if self.keep else "immediate"  # a kept cluster shuts down cleanly
            subprocess.run(
                self._cmd(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
            self.started = False
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The DSN of a running server (``RAKUICHI_TEST_POSTGRES``, or a new throwaway one)."""
    given = os.environ.get(ENV_DSN)
    if given:
        yield given
        return
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


def database_dsn(server_dsn: str, name: str) -> str:
    """The DSN of database ``name`` on the server of ``server_dsn``."""
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{name}"


def new_database_name() -> str:
    return "t_" + uuid.uuid4().hex[:16]


def create_database(server_dsn: str) -> str:
    """A new, empty database on the server of ``server_dsn``; returns its DSN.

    Synchronous (a thread runs its own event loop), so that plain functions that make node
    homes can call it from inside a running test loop."""
    import asyncpg

    name = new_database_name()

    async def create() -> None:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, create()).result(timeout=60)
    return database_dsn(server_dsn, name)


__all__ = [
    "create_database",
    "ENV_DSN",
    "PostgresServer",
    "PostgresUnavailable",
    "bin_dir",
    "database_dsn",
    "new_database_name",
    "postgres_server",
]
