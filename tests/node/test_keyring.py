"""node/keyring.py and the keys commands: incept, rotate, export-next, recovery (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto import SigningKey, load_signing_key, save_signing_key, sha256
from node.cli import main
from node.config import CONFIG_FILE, ORG_KEY_FILE, PASSPHRASE_ENV
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
from node.tomlfile import read_toml
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


def _shown(capsys: pytest.CaptureFixture[str], home: Path) -> dict[str, str]:
    """``rakuichi keys show --home HOME`` as {label: value} (labels in a 10-column field)."""
    capsys.readouterr()
    assert main(["keys", "show", "--home", str(home)]) == 0
    return {line[:10].strip(): line[10:] for line in capsys.readouterr().out.splitlines()}


def test_home_keys_show_export_next_and_recovery_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home made by ``rakuichi init`` (with key events) exports its rotation key and removes
    it, then loses its signing key: ``keys rotate --next OUT`` recovers. The identity (the
    first did, config.toml's ``[identity] org``) stays; the signing key is new."""
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    home = tmp_path / "home"
    init = ["init", "--home", str(home), "--name", "Acme", "--listen", "127.0.0.1:8471"]
    assert main([*init, "--no-passphrase"]) == 0
    identity = read_toml(home / CONFIG_FILE)["identity"]["org"]
    keyfile = home / ORG_KEY_FILE
    before = _shown(capsys, home)
    first_signing = load_signing_key(keyfile).public_key.did
    committed = sha256(load_signing_key(next_path(keyfile)).public_key.raw).hex()
    assert before == {
        "identity": identity,
        "signing": first_signing,
        "state": "established, step 0",
        "next": f"sha256 {committed}",
        "next key": "held here",
    }
    assert first_signing != identity  # init forgot the first key: it only names the identity

    offline = tmp_path / "usb" / "next.key"
    offline.parent.mkdir()
    export = ["keys", "export-next", "--home", str(home), str(offline), "--remove"]
    assert main(export) == 0
    assert not next_path(keyfile).exists()
    assert sha256(load_signing_key(offline).public_key.raw).hex() == committed
    assert _shown(capsys, home)["next key"] == "not here (kept offline?)"

    keyfile.unlink()  # the signing key is lost
    assert main(["keys", "rotate", "--home", str(home)]) == 1  # no rotation key beside it
    assert "no committed rotation key" in capsys.readouterr().err
    assert main(["keys", "rotate", "--home", str(home), "--next", str(offline)]) == 0
    after = _shown(capsys, home)
    assert after["identity"] == identity == read_toml(home / CONFIG_FILE)["identity"]["org"]
    assert after["signing"] == load_signing_key(keyfile).public_key.did
    assert after["signing"] not in (first_signing, identity)
    assert after["state"] == "established, step 1" and after["next key"] == "held here"
    assert after["next"] != before["next"]  # a fresh commitment
    # the used rotation key never signs again
    assert main(["keys", "rotate", "--home", str(home), "--next", str(offline)]) == 1
    assert "not the rotation key the identity committed to" in capsys.readouterr().err
