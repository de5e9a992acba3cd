"""Ed25519 keys, strict verification and did:key (PROTOCOL-v1 section 1)."""

from __future__ import annotations

import pytest

from crypto import InvalidDid, InvalidKey, InvalidSignature, PublicKey, SigningKey
from crypto.didkey import b58decode, b58encode, did_from_raw, raw_from_did
from crypto.keys import check_public_key, verify_raw

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = (-121665 * pow(121666, -1, P)) % P  # the Edwards curve constant
SIGN_BIT = 1 << 255


def _encode(y: int, sign: int = 0) -> bytes:
    return (y | (SIGN_BIT if sign else 0)).to_bytes(32, "little")


def _is_curve_point(y: int) -> bool:
    """Whether some x satisfies -x^2 + y^2 = 1 + d x^2 y^2 (mod p)."""
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    return x2 == 0 or pow(x2, (P - 1) // 2, P) == 1


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- RFC 8032 section 7.1, tests 1-3 -------------------------------------------------------


def test_rfc8032_public_key_from_seed(rfc8032_vector: dict) -> None:
    key = SigningKey.from_seed(bytes.fromhex(rfc8032_vector["seed_hex"]))
    assert key.public_key.raw.hex() == rfc8032_vector["public_key_hex"]
    assert key.seed.hex() == rfc8032_vector["seed_hex"]


def test_rfc8032_signature(rfc8032_vector: dict) -> None:
    key = SigningKey.from_seed(bytes.fromhex(rfc8032_vector["seed_hex"]))
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    assert key.sign(message).hex() == rfc8032_vector["signature_hex"]


def test_rfc8032_verify(rfc8032_vector: dict) -> None:
    public = PublicKey.from_bytes(bytes.fromhex(rfc8032_vector["public_key_hex"]))
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    signature = bytes.fromhex(rfc8032_vector["signature_hex"])
    public.verify(signature, message)  # does not raise
    verify_raw(public.raw, signature, message)


def test_rfc8032_any_flipped_signature_bit_fails(rfc8032_vector: dict) -> None:
    public = PublicKey.from_bytes(bytes.fromhex(rfc8032_vector["public_key_hex"]))
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    signature = bytes.fromhex(rfc8032_vector["signature_hex"])
    for bit in range(len(signature) * 8):
        with pytest.raises(InvalidSignature):
            public.verify(_flip(signature, bit), message)


def test_rfc8032_changed_message_fails(rfc8032_vector: dict) -> None:
    public = PublicKey.from_bytes(bytes.fromhex(rfc8032_vector["public_key_hex"]))
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    signature = bytes.fromhex(rfc8032_vector["signature_hex"])
    changed = [message + b"\x00"] + [_flip(message, bit) for bit in range(len(message) * 8)]
    for other in changed:
        with pytest.raises(InvalidSignature):
            public.verify(signature, other)


def test_rfc8032_wrong_key_fails(vectors: dict) -> None:
    tests = vectors["standards"]["rfc8032_ed25519"]
    for a, b in zip(tests, tests[1:] + tests[:1], strict=True):
        other = PublicKey.from_bytes(bytes.fromhex(b["public_key_hex"]))
        with pytest.raises(InvalidSignature):
            other.verify(bytes.fromhex(a["signature_hex"]), bytes.fromhex(a["message_hex"]))


def test_signature_of_wrong_length_fails(rfc8032_vector: dict) -> None:
    raw = bytes.fromhex(rfc8032_vector["public_key_hex"])
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    signature = bytes.fromhex(rfc8032_vector["signature_hex"])
    for bad in (signature[:-1], signature + b"\x00", b""):
        with pytest.raises(InvalidSignature):
            verify_raw(raw, bad, message)


def test_non_canonical_s_is_refused(rfc8032_vector: dict) -> None:
    """R || (S + L) is the same signature mathematically; strict verification refuses it."""
    public = PublicKey.from_bytes(bytes.fromhex(rfc8032_vector["public_key_hex"]))
    message = bytes.fromhex(rfc8032_vector["message_hex"])
    signature = bytes.fromhex(rfc8032_vector["signature_hex"])
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    assert s < L
    malleated = r + (s + L).to_bytes(32, "little")
    assert malleated != signature
    with pytest.raises(InvalidSignature):
        public.verify(malleated, message)
    with pytest.raises(InvalidSignature):
        verify_raw(public.raw, malleated, message)


def test_sign_then_verify_with_generated_key() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"hello")
    key.public_key.verify(signature, b"hello")
    with pytest.raises(InvalidSignature):
        key.public_key.verify(signature, b"hellp")


def test_seed_of_wrong_length_is_refused() -> None:
    for seed in (b"", bytes(31), bytes(33)):
        with pytest.raises(InvalidKey):
            SigningKey.from_seed(seed)


# --- did:key --------------------------------------------------------------------------------


def test_did_key_from_raw(did_key_vector: dict) -> None:
    raw = bytes.fromhex(did_key_vector["public_key_hex"])
    assert did_from_raw(raw) == did_key_vector["did"]
    assert PublicKey.from_bytes(raw).did == did_key_vector["did"]


def test_raw_from_did_key(did_key_vector: dict) -> None:
    raw = raw_from_did(did_key_vector["did"])
    assert raw.hex() == did_key_vector["public_key_hex"]
    assert PublicKey.from_did(did_key_vector["did"]).raw.hex() == did_key_vector["public_key_hex"]


def test_did_key_of_seed(vectors: dict) -> None:
    seeded = [e for e in vectors["standards"]["did_key_ed25519"] if "seed_hex" in e]
    assert seeded
    for entry in seeded:
        key = SigningKey.from_seed(bytes.fromhex(entry["seed_hex"]))
        assert key.public_key.raw.hex() == entry["public_key_hex"]
        assert key.public_key.did == entry["did"]


def test_protocol_vector_keys_match_their_seeds(vectors: dict) -> None:
    keys = vectors["protocol"]["keys"]
    assert keys
    for entry in keys.values():
        key = SigningKey.from_seed(bytes.fromhex(entry["seed_hex"]))
        assert key.public_key.raw.hex() == entry["public_key_hex"]
        assert PublicKey.from_did(key.public_key.did) == key.public_key


def _malformed_dids(good: str) -> dict[str, object]:
    raw = raw_from_did(good)
    tail = good[len("did:key:z") :]
    return {
        "empty": "",
        "not a str": good.encode(),
        "did:web": "did:web:example.com",
        "wrong method": "did:kez:z" + tail,
        "upper-case prefix": "DID:KEY:z" + tail,
        "base58 multibase prefix missing": "did:key:" + tail,
        "base64url multibase prefix": "did:key:u" + tail,
        "leading space": " " + good,
        "trailing newline": good + "\n",
        "bad base58 char 0": "did:key:z" + tail[:-1] + "0",
        "bad base58 char O": "did:key:z" + "O" + tail[1:],
        "bad base58 char I": "did:key:z" + tail[:5] + "I" + tail[6:],
        "bad base58 char l": "did:key:z" + tail[:-2] + "l" + tail[-1],
        "non-ascii char": "did:key:z" + tail[:-1] + "\u00e9",
        "secp256k1 multicodec": "did:key:z" + b58encode(b"\xe7\x01" + raw + b"\x00"),
        "x25519 multicodec": "did:key:z" + b58encode(b"\xec\x01" + raw),
        "multicodec only": "did:key:z" + b58encode(b"\xed\x01"),
        "no multicodec": "did:key:z" + b58encode(raw),
        "31-byte key": "did:key:z" + b58encode(b"\xed\x01" + raw[:31]),
        "33-byte key": "did:key:z" + b58encode(b"\xed\x01" + raw + b"\x00"),
        "truncated text": good[:-1],
        "extra char": good + "z",
        "leading 1": "did:key:z1" + tail,
        "leading 11": "did:key:z11" + tail,
        "very long": "did:key:z" + tail * 40,
    }


def test_malformed_dids_raise_invalid_did(did_key_vector: dict) -> None:
    good = did_key_vector["did"]
    assert raw_from_did(good)  # the base case is fine
    for label, bad in _malformed_dids(good).items():
        with pytest.raises(InvalidDid):
            raw_from_did(bad)  # type: ignore[arg-type]
            pytest.fail(f"accepted malformed did ({label}): {bad!r}")
        with pytest.raises(InvalidDid):
            PublicKey.from_did(bad)  # type: ignore[arg-type]


def test_non_canonical_base58_is_refused() -> None:
    """The same integer written with extra leading '1's decodes to other bytes: never the key."""
    for raw in (bytes(32), b"\x01" * 32, bytes.fromhex("ff" * 32)):
        did = did_from_raw(raw)
        digits = did[len("did:key:z") :]
        assert b58decode("1" + digits) == b"\x00" + b58decode(digits)
        with pytest.raises(InvalidDid):
            raw_from_did("did:key:z1" + digits)


def test_did_from_raw_refuses_wrong_length() -> None:
    for raw in (b"", bytes(31), bytes(33)):
        with pytest.raises(InvalidDid):
            did_from_raw(raw)


def test_base58_round_trip_keeps_leading_zero_bytes() -> None:
    for data in (b"", b"\x00", b"\x00\x00\x01", b"\x00" * 5 + b"\xff" * 3, bytes(range(256))):
        assert b58decode(b58encode(data)) == data


# --- key validity (section 1) ----------------------------------------------------------------


def test_valid_keys_pass(vectors: dict) -> None:
    raws = [bytes.fromhex(e["public_key_hex"]) for e in vectors["protocol"]["keys"].values()]
    raws += [bytes.fromhex(e["public_key_hex"]) for e in vectors["standards"]["did_key_ed25519"]]
    raws += [SigningKey.generate().public_key.raw for _ in range(64)]  # real points all pass
    for raw in raws:
        check_public_key(raw)
        assert PublicKey.from_bytes(raw).raw == raw


def test_invalid_vector_keys_are_refused(invalid_key_hex: str) -> None:
    raw = bytes.fromhex(invalid_key_hex)
    with pytest.raises(InvalidKey):
        check_public_key(raw)
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(raw)
    with pytest.raises(InvalidKey):
        PublicKey.from_did(did_from_raw(raw))
    with pytest.raises(InvalidKey):
        verify_raw(raw, bytes(64), b"message")


def test_small_order_vector_keys_with_identity_signature_are_refused(invalid_key_hex: str) -> None:
    """R = identity, S = 0 verifies under a small-order key for many messages: refuse the key."""
    identity = _encode(1)
    with pytest.raises(InvalidKey):
        verify_raw(bytes.fromhex(invalid_key_hex), identity + bytes(32), b"anything")


def test_keys_with_y_at_or_above_p_are_refused() -> None:
    refused = 0
    for y in range(P, 2**255):
        for sign in (0, 1):
            raw = _encode(y, sign)
            with pytest.raises(InvalidKey):
                check_public_key(raw)
            with pytest.raises(InvalidKey):
                PublicKey.from_bytes(raw)
            refused += 1
    assert refused == 2 * 19


def test_x_zero_points_with_sign_bit_are_refused() -> None:
    for y in (1, P - 1):
        raw = _encode(y, sign=1)
        with pytest.raises(InvalidKey):
            check_public_key(raw)
        with pytest.raises(InvalidKey):
            PublicKey.from_bytes(raw)


def test_encodings_that_are_not_curve_points_are_refused(vectors: dict) -> None:
    """Section 1: a key is the canonical encoding *of a point*; other y values are no key."""
    not_points = [y for y in range(2, 200) if not _is_curve_point(y)]
    assert len(not_points) > 50
    for y in not_points:
        for sign in (0, 1):
            with pytest.raises(InvalidKey):
                check_public_key(_encode(y, sign))
    small_order = {bytes.fromhex(h) for h in vectors["protocol"]["invalid_keys"]}
    points = [_encode(y, sign) for y in range(2, 200) if _is_curve_point(y) for sign in (0, 1)]
    accepted = [raw for raw in points if raw not in small_order]
    assert len(accepted) > 50
    for raw in accepted:
        check_public_key(raw)  # a point outside the small-order set is a key


def test_keys_of_wrong_length_are_refused() -> None:
    for raw in (b"", bytes(31), b"\x01" + bytes(31) + b"\x00", "not bytes"):
        with pytest.raises(InvalidKey):
            check_public_key(raw)  # type: ignore[arg-type]


def test_libsodium_shortcut_agrees_with_the_rule(vectors: dict) -> None:
    """libsodium's point check (the cached check's shortcut) only ever says yes where section 1
    says yes; points with a small-order component, which it refuses, are still keys."""
    from nacl.bindings import crypto_core_ed25519_add, crypto_core_ed25519_is_valid_point

    from crypto.keys import _check_point

    small_order = [bytes.fromhex(h) for h in vectors["protocol"]["invalid_keys"]]
    order_eight = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    assert order_eight in small_order
    keys = [SigningKey.generate().public_key.raw for _ in range(16)]
    mixed = [crypto_core_ed25519_add(k, order_eight) for k in keys]
    for raw in keys:
        assert crypto_core_ed25519_is_valid_point(raw)
        _check_point(raw)
    for raw in mixed:
        assert not crypto_core_ed25519_is_valid_point(raw)
        _check_point(raw)  # a key under section 1 ...
        check_public_key(raw)  # ... and accepted though libsodium says no
    for raw in small_order:
        assert not crypto_core_ed25519_is_valid_point(raw)
