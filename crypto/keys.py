"""Ed25519 keys with the key-validity rule of PROTOCOL-v1 section 1 and strict verification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from cryptography.exceptions import InvalidSignature as _LibInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from crypto.didkey import did_from_raw, raw_from_did
from crypto.errors import InvalidKey, InvalidSignature

_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P  # the curve constant d of edwards25519
# The eight small-order points, as listed in the protocol's conformance vectors.
SMALL_ORDER_POINTS: frozenset[bytes] = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def check_public_key(raw: bytes) -> None:
    """Raise ``InvalidKey`` unless ``raw`` is a valid key under PROTOCOL-v1 section 1.

    Ed25519 libraries accept non-canonical and small-order keys, and for some of them a forged
    signature verifies for every message, so this check is ours to make.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise InvalidKey("an Ed25519 public key is 32 bytes")
    problem = _key_problem(bytes(raw))
    if problem is not None:
        raise InvalidKey(problem)


def _libsodium_point_check() -> Callable[[bytes], bool] | None:
    try:
        from nacl.bindings import crypto_core_ed25519_is_valid_point
    except ImportError:  # PyNaCl is optional
        return None
    return cast(Callable[[bytes], bool], crypto_core_ed25519_is_valid_point)


# libsodium's check is stricter than section 1 (it also refuses points outside the prime-order
# subgroup), so its yes is a yes for us, and its no is decided again by the rule itself.
_IN_PRIME_ORDER_SUBGROUP = _libsodium_point_check()


@lru_cache(maxsize=65_536)
def _key_problem(raw: bytes) -> str | None:
    """What is wrong with a 32-byte key, or None. Cached: the curve check costs ~250 µs in
    Python (~70 µs through libsodium for the usual keys), and the same few keys sign most
    records a node sees."""
    if _IN_PRIME_ORDER_SUBGROUP is not None and _IN_PRIME_ORDER_SUBGROUP(raw):
        return None
    try:
        _check_point(raw)
    except InvalidKey as exc:
        return str(exc)
    return None


def _check_point(raw: bytes) -> None:
    n = int.from_bytes(raw, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= _P:
        raise InvalidKey("non-canonical key: y is not below 2^255 - 19")
    if sign and y in (1, _P - 1):
        raise InvalidKey("non-canonical key: x = 0 point with the sign bit set")
    if not _has_x(y):
        raise InvalidKey("not the encoding of a curve point")
    if bytes(raw) in SMALL_ORDER_POINTS:
        raise InvalidKey("small-order key")


def _has_x(y: int) -> bool:
    """Whether some x gives a point (x, y): x^2 = (y^2 - 1) / (d y^2 + 1) is a square mod p."""
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P  # d y^2 + 1 is never 0 mod p
    return x2 == 0 or pow(x2, (_P - 1) // 2, _P) == 1


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A validated Ed25519 public key; construct with ``from_bytes`` or ``from_did``."""

    raw: bytes

    def __post_init__(self) -> None:
        check_public_key(self.raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> PublicKey:
        return cls(bytes(raw))

    @classmethod
    def from_did(cls, did: str) -> PublicKey:
        return cls(raw_from_did(did))

    @property
    def did(self) -> str:
        return did_from_raw(self.raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Strict Ed25519 verification; raises ``InvalidSignature``."""
        verify_raw(self.raw, signature, message)

    def __repr__(self) -> str:
        return f"PublicKey({self.did})"


def verify_raw(raw_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify with a raw key: key validity (section 1) then strict Ed25519; raises on failure.

    Raises ``InvalidKey`` for a key outside section 1 and ``InvalidSignature`` otherwise.
    """
    check_public_key(raw_key)
    check_signature_shape(signature)
    try:
        Ed25519PublicKey.from_public_bytes(bytes(raw_key)).verify(bytes(signature), message)
    except (_LibInvalidSignature, ValueError):
        raise InvalidSignature("signature does not verify") from None


_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point


def check_signature_shape(signature: bytes) -> None:
    """The library-independent part of section 3: 64 bytes, R not small-order, S below L.

    OpenSSL's cofactorless check accepts an R of small order (the identity, say) when S fits;
    libsodium refuses it. Refusing it here gives every library the same verdict.
    """
    if len(signature) != 64:
        raise InvalidSignature("an Ed25519 signature is 64 bytes")
    if bytes(signature[:32]) in SMALL_ORDER_POINTS:
        raise InvalidSignature("R is a small-order point")
    if int.from_bytes(signature[32:], "little") >= _L:
        raise InvalidSignature("S is not below the group order L")


class SigningKey:
    """An Ed25519 private key; signs messages and knows its public key."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public = PublicKey(key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise InvalidKey("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def seed(self) -> bytes:
        return self._key.private_bytes_raw()

    @property
    def public_key(self) -> PublicKey:
        return self._public

    @property
    def library_key(self) -> Ed25519PrivateKey:
        """The underlying ``cryptography`` key (for PEM serialisation)."""
        return self._key

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey({self._public.did})"
