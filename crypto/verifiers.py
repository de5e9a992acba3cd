"""Ed25519 signature verifiers: OpenSSL (``cryptography``) always, libsodium (PyNaCl) when present.

PROTOCOL-v1 section 3 (revision 2) fixes one verdict for every signature: a valid signer key
(section 1), S < L, R not one of the small-order encodings, and the cofactorless equation with
the encoded-point comparison. OpenSSL needs the R check added; libsodium makes it itself, and we
add it anyway so that both paths share one rule. With it, both libraries decide every vector the
same, so a node may verify with whichever is faster (libsodium, about 1.8x here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _OpenSslInvalid
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto.errors import InvalidSignature
from crypto.keys import check_public_key, check_signature_shape


@dataclass(frozen=True)
class SignatureVerifier:
    """One library's strict Ed25519 check: ``verify(key, signature, message)`` raises on failure."""

    name: str
    equation: Callable[[bytes, bytes, bytes], bool]  # the library's check alone

    def verify(self, raw_key: bytes, signature: bytes, message: bytes) -> None:
        """Key validity (section 1), signature shape and R rule, then the library's equation.

        Raises ``InvalidKey`` for a key outside section 1 and ``InvalidSignature`` otherwise.
        """
        check_public_key(raw_key)
        check_signature_shape(signature)
        if not self.equation(bytes(raw_key), bytes(signature), message):
            raise InvalidSignature("signature does not verify")


def _openssl_check(raw_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, message)
    except (_OpenSslInvalid, ValueError):
        return False
    return True


OPENSSL = SignatureVerifier("cryptography", _openssl_check)


def _libsodium() -> SignatureVerifier | None:
    try:
        from nacl.bindings import crypto_sign_open
        from nacl.exceptions import BadSignatureError
    except ImportError:  # PyNaCl is optional
        return None

    def check(raw_key: bytes, signature: bytes, message: bytes) -> bool:
        try:
            crypto_sign_open(signature + message, raw_key)
        except (BadSignatureError, ValueError):
            return False
        return True

    return SignatureVerifier("pynacl", check)


LIBSODIUM: SignatureVerifier | None = _libsodium()

# Every verifier this installation can use, fastest first.
AVAILABLE: tuple[SignatureVerifier, ...] = tuple(v for v in (LIBSODIUM, OPENSSL) if v is not None)
BY_NAME: dict[str, SignatureVerifier] = {v.name: v for v in AVAILABLE}


def fastest() -> SignatureVerifier:
    """The fastest verifier installed: libsodium when PyNaCl is there, else OpenSSL."""
    return AVAILABLE[0]


def by_name(name: str) -> SignatureVerifier:
    """The verifier called ``name`` (``cryptography`` or ``pynacl``); KeyError if not installed."""
    return BY_NAME[name]
