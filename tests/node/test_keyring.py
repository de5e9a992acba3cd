"""node/keyring.py and the keys commands: incept, rotate, export-next, recovery (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto import SigningKey, load_signing_key, save_signing_key, sha256
from node.cli import main
from node.keyring import (
    KeyringError,
    events_path,
    export_next,
    incept,
    next_path,
    read_events,
    rotate,
    state,
)
from protocol import key_histories

T = 1_760_000_000_000


def test_new_identity_rotates_and_recovers_with_the_offline_key(tmp_path: Path) -> None:
    keyfile = tmp_path / "org.key"
    icp = incept(keyfile, None, T)
    identity = icp.author
    first_signing = load_signing_key(keyfile).public_key.raw
    assert icp.body["cutoff"] == 0 and icp.body["key"] == first_signing
    offline = tmp_path / "usb" / "next.key"
    offline.parent.mkdir()
    export_next(keyfile, offline, remove=True)
    assert not next_path(keyfile).exists()
    with pytest.raises(KeyringError, match="no committed rotation key"):
        rotate(keyfile, None, T + 1)
    keyfile.unlink()  # the signing key is lost: recovery needs only the offline key
    step1 = rotate(keyfile, None, T + 2, next_file=offline)
    assert step1.author == load_signing_key(offline).public_key.raw
    now = state(keyfile, None)
    assert now.identity == identity and now.seq == 1 and now.next_held
    assert now.signing == step1.body["key"] != first_signing
    history = key_histories(read_events(keyfile)).history(identity)
    assert history is not None and history.current == now.signing
    assert history.next == sha256(load_signing_key(next_path(keyfile)).public_key.raw)


def test_only_the_committed_key_rotates(tmp_path: Path) -> None:
    keyfile = tmp_path / "org.key"
    incept(keyfile, None, T)
    guess = tmp_path / "guess.key"
    save_signing_key(guess, SigningKey.generate())
    with pytest.raises(KeyringError, match="not the rotation key the identity committed to"):
        rotate(keyfile, None, T + 1, next_file=guess)
    assert len(read_events(keyfile)) == 1


def test_a_single_key_adopts_key_events_and_keeps_its_identity(tmp_path: Path) -> None:
    keyfile = tmp_path / "wallet.key"
    old = SigningKey.generate()
    save_signing_key(keyfile, old)
    icp = incept(keyfile, None, T, first=old)
    assert icp.author == old.public_key.raw and "cutoff" not in icp.body
    assert state(keyfile, None).identity == old.public_key.raw
    with pytest.raises(KeyringError, match="already has key events"):
        incept(keyfile, None, T + 1)


def test_export_next_refuses_to_overwrite(tmp_path: Path) -> None:
    keyfile = tmp_path / "org.key"
    incept(keyfile, None, T)
    out = tmp_path / "out.key"
    out.write_text("something precious")
    with pytest.raises(KeyringError, match="already exists"):
        export_next(keyfile, out)
    assert out.read_text() == "something precious"


def test_member_keys_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wallet = tmp_path / "me.key"
    assert main(["member", "init", "--wallet", str(wallet), "--no-passphrase"]) == 0
    identity = load_signing_key(wallet).public_key.did
    assert main(["member", "keys", "rotate", "--wallet", str(wallet)]) == 0
    assert main(["member", "keys", "rotate", "--wallet", str(wallet)]) == 0
    capsys.readouterr()
    assert main(["member", "keys", "show", "--wallet", str(wallet)]) == 0
    shown = capsys.readouterr().out
    assert f"identity  {identity}" in shown and "established, step 1" in shown
    assert len(events_path(wallet).read_text().split()) == 2
    # WALLET.pub follows the rotation: the identity first (whoami), then the key it signs with
    signing = load_signing_key(wallet).public_key.did
    assert signing != identity
    pub = wallet.with_name(wallet.name + ".pub")
    assert pub.read_text().splitlines() == [identity, f"key {signing}"]
    assert main(["member", "whoami", "--wallet", str(wallet)]) == 0
    assert capsys.readouterr().out.strip() == identity
    pub.unlink()  # without WALLET.pub, the identity comes from the key events
    assert main(["member", "whoami", "--wallet", str(wallet)]) == 0
    assert capsys.readouterr().out.strip() == identity
    out = tmp_path / "next.key"
    assert main(["member", "keys", "export-next", "--wallet", str(wallet), str(out)]) == 0
    assert out.read_bytes() == next_path(wallet).read_bytes()
    assert main(["member", "keys", "rotate", "--wallet", str(wallet), "--next", str(tmp_path)]) == 1
    assert "cannot read key file" in capsys.readouterr().err
