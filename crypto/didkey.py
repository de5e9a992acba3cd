"""did:key text form of Ed25519 public keys: ``did:key:z`` + base58btc(0xed 0x01 + key)."""

from functools import lru_cache

from crypto.errors import InvalidDid

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_PREFIX = "did:key:z"
_MULTICODEC_ED25519 = b"\xed\x01"


def b58encode(data: bytes) -> str:
    """Bitcoin base58 encoding (leading zero bytes become '1')."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; raises ``InvalidDid`` on a character outside the alphabet."""
    n = 0
    for c in text:
        try:
            n = n * 58 + _INDEX[c]
        except KeyError:
            raise InvalidDid(f"character {c!r} is not base58btc") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * pad + body


def did_from_raw(raw: bytes) -> str:
    """Text form of a raw 32-byte Ed25519 public key (no validity check of the point)."""
    if len(raw) != 32:
        raise InvalidDid(f"an Ed25519 key is 32 bytes, not {len(raw)}")
    return _did_of(bytes(raw))


@lru_cache(maxsize=65_536)
def _did_of(raw: bytes) -> str:
    """Cached: base58 is a big-number loop in Python, and views name the same few keys."""
    return _PREFIX + b58encode(_MULTICODEC_ED25519 + raw)


def raw_from_did(did: str) -> bytes:
    """Raw 32-byte key of a ``did:key:z6Mk...`` string; raises ``InvalidDid``."""
    if not isinstance(did, str) or not did.startswith(_PREFIX) or len(did) > 64:
        raise InvalidDid(f"not an Ed25519 did:key: {str(did)[:80]!r}")
    decoded = b58decode(did[len(_PREFIX) :])
    if len(decoded) != 34 or not decoded.startswith(_MULTICODEC_ED25519):
        raise InvalidDid(f"not an Ed25519 did:key (multicodec 0xed01, 32 bytes): {did!r}")
    raw = decoded[2:]
    if did_from_raw(raw) != did:
        raise InvalidDid(f"did:key is not in its canonical base58 form: {did!r}")
    return raw
