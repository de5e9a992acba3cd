"""Key files: PKCS#8 PEM, optionally encrypted, mode 0600, never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crypto import (
    DamagedKeyFile,
    KeyFileError,
    SigningKey,
    WrongPassphrase,
    load_signing_key,
    save_signing_key,
)

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def _same_key(a: SigningKey, b: SigningKey) -> None:
    assert a.seed == b.seed
    assert a.public_key == b.public_key
    assert a.public_key.raw == b.public_key.raw


def test_round_trip_plain(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key)
    text = path.read_bytes()
    assert text.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_signing_key(path)
    _same_key(loaded, key)
    assert load_signing_key(str(path)).seed == key.seed  # str paths too
    loaded.public_key.verify(loaded.sign(b"m"), b"m")


@pytest.mark.parametrize("passphrase", [PASSPHRASE, PASSPHRASE.encode(), "pässwörd ✓"])
def test_round_trip_with_passphrase(
    tmp_path: Path, key: SigningKey, passphrase: str | bytes
) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key, passphrase)
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert key.seed not in data
    _same_key(load_signing_key(path, passphrase), key)


def test_str_and_bytes_passphrases_are_the_same(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key, PASSPHRASE)
    _same_key(load_signing_key(path, PASSPHRASE.encode()), key)


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_file_mode_is_0600(tmp_path: Path, key: SigningKey, passphrase: str | None) -> None:
    path = tmp_path / "node.key"
    old = os.umask(0)  # even with a permissive umask
    try:
        save_signing_key(path, key, passphrase)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuses_to_overwrite(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key)
    before = path.read_bytes()
    with pytest.raises(KeyFileError):
        save_signing_key(path, SigningKey.generate())
    with pytest.raises(KeyFileError):
        save_signing_key(path, SigningKey.generate(), PASSPHRASE)
    assert path.read_bytes() == before
    _same_key(load_signing_key(path), key)


def test_refuses_to_overwrite_any_file(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(KeyFileError):
        save_signing_key(path, key)
    assert path.read_text() == "keep me"


def test_unwritable_location(tmp_path: Path, key: SigningKey) -> None:
    with pytest.raises(KeyFileError):
        save_signing_key(tmp_path / "no" / "such" / "dir" / "node.key", key)


def test_wrong_passphrase(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key, PASSPHRASE)
    for wrong in ("wrong", PASSPHRASE + " ", PASSPHRASE.upper(), b"x"):
        with pytest.raises(WrongPassphrase):
            load_signing_key(path, wrong)


@pytest.mark.parametrize("missing", [None, "", b""])
def test_missing_passphrase_for_encrypted_file(
    tmp_path: Path, key: SigningKey, missing: str | bytes | None
) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key, PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        load_signing_key(path, missing)


def test_passphrase_for_a_plain_file_is_not_needed(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "node.key"
    save_signing_key(path, key)
    _same_key(load_signing_key(path, "unneeded"), key)


def _rsa_pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ec_pem(fmt: serialization.PrivateFormat) -> bytes:
    private = ec.generate_private_key(ec.SECP256R1())
    return private.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _damaged_contents(good: bytes) -> dict[str, bytes]:
    lines = good.splitlines(keepends=True)
    return {
        "empty": b"",
        "truncated PEM (half)": good[: len(good) // 2],
        "truncated PEM (no end line)": b"".join(lines[:-1]),
        "PEM body cut short": b"".join([lines[0], lines[1][:20] + b"\n", lines[-1]]),
        "random bytes": os.urandom(512),
        "random bytes in a PEM frame": (
            b"-----BEGIN PRIVATE KEY-----\n"
            + os.urandom(48).hex().encode()
            + b"\n"
            + b"-----END PRIVATE KEY-----\n"
        ),
        "RSA key PEM": _rsa_pem(),
        "EC key PEM (PKCS#8)": _ec_pem(serialization.PrivateFormat.PKCS8),
        "EC key PEM (traditional)": _ec_pem(serialization.PrivateFormat.TraditionalOpenSSL),
        "public key PEM": SigningKey.generate()
        .library_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    }


def test_damaged_files(tmp_path: Path, key: SigningKey) -> None:
    good_path = tmp_path / "good.key"
    save_signing_key(good_path, key)
    good = good_path.read_bytes()
    for i, (label, content) in enumerate(_damaged_contents(good).items()):
        path = tmp_path / f"damaged-{i}.key"
        path.write_bytes(content)
        with pytest.raises(DamagedKeyFile):
            load_signing_key(path)
            pytest.fail(f"loaded a damaged key file: {label}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError) as info:
        load_signing_key(tmp_path / "absent.key")
    assert not isinstance(info.value, (WrongPassphrase, DamagedKeyFile))


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_signing_key(tmp_path)
