"""Ed25519 identities for Rakuichi: keys, did:key, strict verification, key files.

A tiny typed layer over ``cryptography``. Imports nothing of ``protocol`` or ``node``.
"""

from crypto.didkey import did_from_raw, raw_from_did
from crypto.digest import sha256
from crypto.errors import (
    CryptoError,
    DamagedKeyFile,
    InvalidDid,
    InvalidKey,
    InvalidSignature,
    KeyFileError,
    WrongPassphrase,
)
from crypto.keyfile import load_signing_key, save_signing_key
from crypto.keys import PublicKey, SigningKey, check_public_key

__all__ = [
    "CryptoError",
    "DamagedKeyFile",
    "InvalidDid",
    "InvalidKey",
    "InvalidSignature",
    "KeyFileError",
    "PublicKey",
    "SigningKey",
    "WrongPassphrase",
    "check_public_key",
    "did_from_raw",
    "load_signing_key",
    "raw_from_did",
    "save_signing_key",
    "sha256",
]
