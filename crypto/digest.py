"""SHA-256, the one digest of the protocol."""

import hashlib


def sha256(data: bytes) -> bytes:
    """Return the 32-byte SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()
