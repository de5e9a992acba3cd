"""The member's wallet: passphrase rules of ``member init`` (with and without a terminal) and a
``member whoami`` that needs no passphrase."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import termios
import time
from pathlib import Path

from crypto import load_signing_key
from crypto.errors import WrongPassphrase
from tests.support import rakuichi_command, run_cli, subprocess_env


def _encrypted(path: Path) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()


def _on_terminal(args: list[str], answers: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """Run ``rakuichi ARGS`` with a pseudo-terminal as its controlling terminal, typing each
    answer once a prompt ending in ': ' has appeared; its exit status and everything shown."""
    master, slave = os.openpty()

    def _controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*rakuichi_command(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=subprocess_env(),
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if pending and chunk.rstrip().endswith(b":"):  # a prompt, just shown
                    os.write(master, pending.pop(0).encode() + b"\n")
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return status, shown.decode(errors="replace")


def test_init_on_a_terminal_asks_twice_without_echo(tmp_path: Path) -> None:
    wallet = tmp_path / "me.key"
    status, shown = _on_terminal(
        ["member", "init", "--wallet", str(wallet)], ["s3cret words", "s3cret words"]
    )
    assert status == 0, shown
    assert "s3cret" not in shown  # no echo
    assert shown.count("assphrase") >= 2, shown
    assert "encrypted with your passphrase" in shown
    assert _encrypted(wallet)
    assert load_signing_key(wallet, "s3cret words").public_key.did in shown
    whoami = run_cli("member", "whoami", "--wallet", wallet)  # no passphrase, no terminal
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.strip() == load_signing_key(wallet, "s3cret words").public_key.did


def test_init_on_a_terminal_refuses_two_different_passphrases(tmp_path: Path) -> None:
    wallet = tmp_path / "me.key"
    status, shown = _on_terminal(["member", "init", "--wallet", str(wallet)], ["one", "two"])
    assert status == 1 and "differ" in shown, shown
    assert not wallet.exists()


def test_no_passphrase_on_a_terminal_asks_nothing(tmp_path: Path) -> None:
    wallet = tmp_path / "me.key"
    status, shown = _on_terminal(["member", "init", "--wallet", str(wallet), "--no-passphrase"], [])
    assert status == 0 and "unencrypted (--no-passphrase)" in shown, shown
    assert not _encrypted(wallet)


def test_without_a_terminal_init_says_the_wallet_is_unencrypted(tmp_path: Path) -> None:
    wallet = tmp_path / "me.key"
    done = run_cli("member", "init", "--wallet", wallet)
    assert done.returncode == 0, done.stderr
    assert "unencrypted: no terminal" in done.stdout
    assert not _encrypted(wallet)
    assert (tmp_path / "me.key.pub").read_text().strip() in done.stdout


def test_a_passphrase_file_encrypts_and_whoami_needs_none(tmp_path: Path) -> None:
    wallet, secret = tmp_path / "me.key", tmp_path / "pass.txt"
    secret.write_text("horse battery\n")
    done = run_cli("member", "init", "--wallet", wallet, "--passphrase-file", secret)
    assert done.returncode == 0 and "encrypted with the passphrase file" in done.stdout
    assert _encrypted(wallet)
    try:
        load_signing_key(wallet, None)
    except WrongPassphrase:
        pass
    else:
        raise AssertionError("the wallet opened without its passphrase")
    whoami = run_cli("member", "whoami", "--wallet", wallet)
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.strip() == load_signing_key(wallet, "horse battery").public_key.did


def test_an_empty_passphrase_file_is_refused(tmp_path: Path) -> None:
    wallet, secret = tmp_path / "me.key", tmp_path / "pass.txt"
    secret.write_text("\n")
    done = run_cli("member", "init", "--wallet", wallet, "--passphrase-file", secret)
    assert done.returncode == 1 and "is empty" in done.stderr
    assert not wallet.exists()


def test_init_never_overwrites_a_wallet(tmp_path: Path) -> None:
    wallet = tmp_path / "me.key"
    assert run_cli("member", "init", "--wallet", wallet, "--no-passphrase").returncode == 0
    before = wallet.read_bytes()
    again = run_cli("member", "init", "--wallet", wallet, "--no-passphrase")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert wallet.read_bytes() == before
