"""The conformance vectors of PROTOCOL-v1: valid records accepted, invalid ones refused."""

from __future__ import annotations

import time

import pytest

from crypto import CryptoError
from crypto.verifiers import AVAILABLE, SignatureVerifier, fastest
from protocol.encoding import decode
from protocol.errors import REJECTION_CLASSES, PolicyError, Rejected
from protocol.record import Record
from protocol.validate import Policy, parse, validate


def _classes(stated: str) -> set[str]:
    """``'a_or_b'`` means either class is right."""
    classes = set(stated.split("_or_"))
    assert classes <= REJECTION_CLASSES.keys(), f"unknown class in a vector: {stated}"
    return classes


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def test_valid_vector_is_accepted_with_its_id(valid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    record = validate(wire, vector_now_ms)
    assert record.id.hex() == valid_vector["id"]
    assert record.id_hex == valid_vector["id"]
    assert record.wire == wire


def test_valid_vector_rebuilds_to_the_same_bytes(valid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    record = validate(wire, vector_now_ms)
    rebuilt = Record.build(record.kind, record.author, record.created, record.body, record.sigs)
    assert rebuilt.wire == wire
    assert rebuilt.id == record.id
    assert rebuilt == record


def test_valid_vector_is_accepted_at_the_edge_of_the_clock(valid_vector: dict) -> None:
    """Ten minutes ahead of the node's clock is still accepted; one millisecond more is not."""
    wire = bytes.fromhex(valid_vector["record_hex"])
    created = decode(wire)["created"]
    assert validate(wire, created - 600_000).id.hex() == valid_vector["id"]
    with pytest.raises(Rejected) as info:
        validate(wire, created - 600_001)
    assert info.value.klass == "time"


def test_valid_vector_refused_by_policy(valid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    record = validate(wire, vector_now_ms)
    for policy in (
        Policy(denied_authors=frozenset({record.author})),
        Policy(denied_kinds=frozenset({record.kind})),
    ):
        with pytest.raises(PolicyError) as info:
            validate(wire, vector_now_ms, policy=policy)
        assert info.value.klass == "policy"
    other = Policy(denied_authors=frozenset({bytes(32)}), denied_kinds=frozenset({"x.other"}))
    assert validate(wire, vector_now_ms, policy=other).id == record.id


def test_invalid_vector_is_refused_with_its_class(invalid_vector: dict, vector_now_ms: int) -> None:
    wire = bytes.fromhex(invalid_vector["record_hex"])
    with pytest.raises(Rejected) as info:
        validate(wire, vector_now_ms)
    assert info.value.klass in _classes(invalid_vector["class"]), str(info.value)
    assert type(info.value) in {REJECTION_CLASSES[c] for c in _classes(invalid_vector["class"])}


def test_invalid_vector_is_refused_at_the_real_time(invalid_vector: dict) -> None:
    wire = bytes.fromhex(invalid_vector["record_hex"])
    with pytest.raises(Rejected) as info:
        validate(wire, _wall_clock_ms())
    assert info.value.klass in _classes(invalid_vector["class"]), str(info.value)


def test_record_from_the_far_future_is_refused_now(vectors: dict, vector_now_ms: int) -> None:
    """The 'created in 2100' vector: refused at the vectors' clock and at the real clock."""
    now = _wall_clock_ms()
    future = []
    for vector in vectors["protocol"]["invalid"]:
        if vector["class"] != "time":
            continue
        created = decode(bytes.fromhex(vector["record_hex"]))["created"]
        if created > now + 600_000:
            future.append((vector, created))
    assert future, "no time vector lies in the future"
    for vector, created in future:
        assert created >= 4_102_444_800_000  # 2100-01-01: still ahead of any real clock
        wire = bytes.fromhex(vector["record_hex"])
        for clock in (vector_now_ms, now):
            with pytest.raises(Rejected) as info:
                validate(wire, clock)
            assert info.value.klass == "time"
        # it is refused only for its time: once the clock catches up, it is valid
        assert validate(wire, created).created == created


def test_vector_clock_is_after_every_valid_record(vectors: dict, vector_now_ms: int) -> None:
    for vector in vectors["protocol"]["valid"]:
        assert decode(bytes.fromhex(vector["record_hex"]))["created"] < vector_now_ms


def test_vector_ids_are_distinct_and_lowercase_hex(vectors: dict) -> None:
    ids = [v["id"] for v in vectors["protocol"]["valid"]]
    assert len(set(ids)) == len(ids)
    for rid in ids:
        assert len(rid) == 64
        assert rid == rid.lower()
        bytes.fromhex(rid)


@pytest.mark.parametrize("verifier", AVAILABLE, ids=lambda v: v.name)
def test_every_vector_is_decided_alike_by_each_verifier(
    verifier: SignatureVerifier, vectors: dict, vector_now_ms: int
) -> None:
    """Revision 2: with the small-order R rule, OpenSSL and libsodium give one verdict."""
    for vector in vectors["protocol"]["valid"]:
        wire = bytes.fromhex(vector["record_hex"])
        assert validate(wire, vector_now_ms, verifier=verifier).id.hex() == vector["id"]
    for vector in vectors["protocol"]["invalid"]:
        with pytest.raises(Rejected) as info:
            validate(bytes.fromhex(vector["record_hex"]), vector_now_ms, verifier=verifier)
        assert info.value.klass in _classes(vector["class"]), (vector["name"], str(info.value))


def test_both_verifiers_are_shipped() -> None:
    """PyNaCl is a dependency: the node verifies with libsodium, the faster of the two."""
    assert [v.name for v in AVAILABLE] == ["pynacl", "cryptography"]
    assert fastest().name == "pynacl"


def test_openssl_alone_accepts_the_small_order_r_vector(vectors: dict) -> None:
    """The rule is needed: without the R check, OpenSSL's cofactorless equation accepts it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    (vector,) = [v for v in vectors["protocol"]["invalid"] if "small-order R" in v["name"]]
    record = parse(bytes.fromhex(vector["record_hex"]))
    ((signer, signature),) = record.sigs
    Ed25519PublicKey.from_public_bytes(signer).verify(signature, record.signing_input)
    for verifier in AVAILABLE:
        with pytest.raises(CryptoError, match="small-order"):
            verifier.verify(signer, signature, record.signing_input)
