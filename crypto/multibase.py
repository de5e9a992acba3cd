"""Multibase base58btc (``z`` prefix) and the multikey forms of Ed25519 keys."""

from __future__ import annotations

from crypto.didkey import b58decode, b58encode
from crypto.errors import InvalidKey

BASE58BTC = "z"
ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub (0xed) as an unsigned varint
ED25519_PRIV = b"\x80\x26"  # multicodec ed25519-priv (0x1300) as an unsigned varint


def encode_base58btc(data: bytes) -> str:
    """``z`` + base58btc(data): the multibase form used by Data Integrity proofs."""
    return BASE58BTC + b58encode(data)


def decode_base58btc(text: str) -> bytes:
    """Inverse of :func:`encode_base58btc`; raises ``InvalidDid`` on a bad character and
    ``InvalidKey`` when the multibase prefix is not ``z``."""
    if not isinstance(text, str) or not text.startswith(BASE58BTC):
        raise InvalidKey(f"not a base58btc multibase string (prefix 'z'): {str(text)[:80]!r}")
    return b58decode(text[1:])


def public_key_multibase(raw: bytes) -> str:
    """The Multikey text of a 32-byte Ed25519 public key (``z6Mk...``)."""
    return encode_base58btc(ED25519_PUB + raw)


def seed_from_multibase(text: str) -> bytes:
    """The 32-byte Ed25519 seed of a Multikey private key (``z3u2...``)."""
    decoded = decode_base58btc(text)
    if len(decoded) != 34 or not decoded.startswith(ED25519_PRIV):
        raise InvalidKey("not an Ed25519 Multikey private key (multicodec 0x1300, 32 bytes)")
    return decoded[2:]


def public_key_from_multibase(text: str) -> bytes:
    """The raw 32-byte key of a Multikey public key (``z6Mk...``)."""
    decoded = decode_base58btc(text)
    if len(decoded) != 34 or not decoded.startswith(ED25519_PUB):
        raise InvalidKey("not an Ed25519 Multikey public key (multicodec 0xed, 32 bytes)")
    return decoded[2:]
