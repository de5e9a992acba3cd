"""Key files: PKCS#8 PEM, encrypted when a passphrase is given, written with mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.errors import DamagedKeyFile, KeyFileError, WrongPassphrase
from crypto.keys import SigningKey


def save_signing_key(
    path: str | os.PathLike[str], key: SigningKey, passphrase: str | bytes | None = None
) -> None:
    """Write ``key`` to ``path`` (mode 0600), refusing to overwrite an existing file."""
    if passphrase:
        pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
        algorithm: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(
            pw
        )
    else:
        algorithm = serialization.NoEncryption()
    pem = key.library_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm
    )
    try:
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: key file already exists, not overwriting") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create key file: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def load_signing_key(
    path: str | os.PathLike[str], passphrase: str | bytes | None = None
) -> SigningKey:
    """Read a key file; raises ``WrongPassphrase``, ``DamagedKeyFile`` or ``KeyFileError``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc.strerror}") from None
    pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    if encrypted and not pw:
        raise WrongPassphrase(f"{path}: key file is encrypted; a passphrase is needed")
    try:
        key = serialization.load_pem_private_key(data, password=pw if encrypted else None)
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise WrongPassphrase(f"{path}: wrong passphrase (or damaged key file)") from None
        raise DamagedKeyFile(f"{path}: not a PEM private key ({exc})") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and others here
        raise DamagedKeyFile(f"{path}: not a readable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DamagedKeyFile(f"{path}: not an Ed25519 key")
    return SigningKey(key)
