"""Passphrases at init: asked on a terminal (twice, not echoed), else from a file or the
environment, else unencrypted keys said in one line; an empty passphrase file is refused."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from node.config import load_keys
from node.tomlfile import ConfigError
from tests.support import free_port
from tests.support.nodes import REPO_ROOT, rakuichi_command, subprocess_env


def _init_args(home: Path) -> list[str]:
    return ["init", "--home", str(home), "--name", "Acme", "--listen", f"127.0.0.1:{free_port()}"]


def _no_terminal(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*rakuichi_command(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env or subprocess_env(),
        cwd=REPO_ROOT,
        check=False,
    )


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"the command ended: {seen.decode(errors='replace')}")
            seen += chunk


def test_a_terminal_is_asked_twice_and_the_keys_are_encrypted(tmp_path: Path) -> None:
    home = tmp_path / "asked"
    command = [*rakuichi_command(), *_init_args(home)]
    env = subprocess_env()
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        os.chdir(REPO_ROOT)
        os.execve(command[0], command, env)
    seen = bytearray()
    try:
        _read_until(fd, b"passphrase to encrypt", seen)
        os.write(fd, b"correct horse\n")
        _read_until(fd, b"again", seen)
        os.write(fd, b"correct horse\n")
        _read_until(fd, b"next: rakuichi run", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert b"correct horse" not in seen  # not echoed
    with pytest.raises(ConfigError):
        load_keys(home)
    assert load_keys(home, "correct horse").org.public_key.did.startswith("did:key:")


def test_without_a_terminal_keys_are_plain_and_that_is_said(tmp_path: Path) -> None:
    home = tmp_path / "scripted"
    result = _no_terminal(_init_args(home))
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stdout.splitlines() if "not encrypted" in line]
    assert len(said) == 1, result.stdout
    assert load_keys(home).org.public_key.did.startswith("did:key:")

    quiet = _no_terminal([*_init_args(tmp_path / "quiet"), "--no-passphrase"])
    assert quiet.returncode == 0 and "not encrypted" not in quiet.stdout


def test_a_file_or_the_environment_encrypts_and_an_empty_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("from a file\n", encoding="utf-8")
    filed = tmp_path / "filed"
    assert _no_terminal([*_init_args(filed), "--passphrase-file", str(secret)]).returncode == 0
    assert load_keys(filed, "from a file").node.public_key.did

    env = {**subprocess_env(), "RAKUICHI_PASSPHRASE": "from the env"}
    from_env = tmp_path / "env"
    assert _no_terminal(_init_args(from_env), env).returncode == 0
    assert load_keys(from_env, "from the env").node.public_key.did

    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    refused = _no_terminal([*_init_args(tmp_path / "never"), "--passphrase-file", str(empty)])
    assert refused.returncode == 1 and "is empty" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert not (tmp_path / "never").exists()
