"""Hostile input: refused early, cheaply, and only ever with a ``Rejected`` naming its class."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol.encoding
import protocol.validate
from protocol.builder import Draft
from protocol.encoding import MAX_RECORD_BYTES
from protocol.errors import EncodingError, Rejected
from protocol.validate import parse, validate

MiB = 1 << 20
MEMORY_BUDGET = 4 * MiB
NOW_MS = 1_800_000_000_000  # any clock will do: nothing here gets as far as the time check


def _refusal_with_peak(
    data: bytes, check: Callable[[bytes], Any] = lambda d: validate(d, NOW_MS)
) -> tuple[Rejected, int]:
    """Run ``check(data)``; return its refusal and the peak traced memory it added (bytes)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        try:
            check(data)
        except Rejected as exc:
            refusal = exc
        else:
            pytest.fail("hostile input accepted")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return refusal, peak - before


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """Load whatever the first validation loads lazily, so it does not count as the input's."""
    for data in (b"\x91" * 2000, b"\xdd\xff\xff\xff\xff", b"\xc1", b"\x80"):
        with pytest.raises(Rejected):
            validate(data, NOW_MS)


def test_the_memory_probe_sees_a_large_allocation() -> None:
    def allocate(data: bytes) -> None:
        buffer = bytearray(8 * MiB)
        raise EncodingError(f"allocated {len(buffer)} bytes")

    _, grew = _refusal_with_peak(b"", allocate)
    assert grew > MEMORY_BUDGET


# --- size is decided before anything is decoded ----------------------------------------------


def test_ten_megabytes_refused_as_size_fast_and_without_copying() -> None:
    data = bytes(10_000_000)
    start = time.perf_counter()
    refusal, grew = _refusal_with_peak(data)
    elapsed = time.perf_counter() - start
    assert refusal.klass == "size"
    assert elapsed < 0.5
    assert grew < 256 * 1024, f"refusing 10 MB took {grew} bytes"


@pytest.mark.parametrize("size", [MAX_RECORD_BYTES + 1, 100_000, 10_000_000])
def test_oversized_input_is_never_decoded(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoding was attempted on oversized input")

    monkeypatch.setattr(protocol.validate, "decode", no_decoding)
    monkeypatch.setattr(protocol.encoding.msgpack, "unpackb", no_decoding)
    bombs = (bytes(size), b"\xc1" * size, b"\x91" * size, (b"\xdd\xff\xff\xff\xff" * size)[:size])
    for data in bombs:
        assert len(data) == size
        for check in (lambda d: validate(d, NOW_MS), parse):
            with pytest.raises(Rejected) as info:
                check(data)
            assert info.value.klass == "size"


def test_size_limit_is_exactly_65536_bytes() -> None:
    at_limit = b"\xc1" * MAX_RECORD_BYTES  # not msgpack, but not too big either
    with pytest.raises(Rejected) as info:
        validate(at_limit, NOW_MS)
    assert info.value.klass == "encoding"
    with pytest.raises(Rejected) as info:
        validate(at_limit + b"\xc1", NOW_MS)
    assert info.value.klass == "size"


# --- within 64 KiB: bombs refused as encoding, in bounded memory -----------------------------


def _header32(code: int, count: int) -> bytes:
    return bytes([code]) + count.to_bytes(4, "big")


def _many_distinct_keys(count_claimed: int | None = None) -> bytes:
    """A map32 holding as many distinct short keys as fit in 64 KiB (about 11,000)."""
    pairs, n = [], 0
    size = 5
    while True:
        pair = msgpack.packb(str(n)) + b"\xc3"
        if size + len(pair) > MAX_RECORD_BYTES:
            break
        pairs.append(pair)
        size += len(pair)
        n += 1
    return _header32(0xDF, count_claimed or n) + b"".join(pairs)


def _in_a_record(bomb: bytes) -> bytes:
    """The bomb as the body of an otherwise plausible record prefix, cut to 64 KiB."""
    prefix = b"\x86\xa6author\xc4\x20" + b"\x11" * 32 + b"\xa4body"
    return (prefix + bomb)[:MAX_RECORD_BYTES]


HOSTILE: dict[str, bytes] = {
    "60,000 nested fixarrays": b"\x91" * 60_000 + b"\x90",
    "1,000 nested fixarrays (within msgpack's own stack)": b"\x91" * 1_000 + b"\x90",
    "20,000 nested one-key maps": b"\x81\xa0" * 20_000 + b"\x80",
    "60,000 empty maps in an array32": _header32(0xDD, 60_000) + b"\x80" * 60_000,
    "60,000 empty arrays in an array32": _header32(0xDD, 60_000) + b"\x90" * 60_000,
    "60 arrays of 1,000 empty arrays": b"\xdc\x00\x3c" + (b"\xdc\x03\xe8" + b"\x90" * 1000) * 60,
    "60 arrays of 1,000 empty maps": b"\xdc\x00\x3c" + (b"\xdc\x03\xe8" + b"\x80" * 1000) * 60,
    "array32 claiming 4G elements": b"\xdd\xff\xff\xff\xff",
    "map32 claiming 4G pairs": b"\xdf\xff\xff\xff\xff",
    "str32 claiming 4 GB": b"\xdb\xff\xff\xff\xff",
    "bin32 claiming 4 GB": b"\xc6\xff\xff\xff\xff",
    "array32 claiming 4G, 64 KiB given": (b"\xdd\xff\xff\xff\xff" + b"\x00" * 70_000)[
        :MAX_RECORD_BYTES
    ],
    "str32 claiming 4 GB, 64 KiB given": (b"\xdb\xff\xff\xff\xff" + b"a" * 70_000)[
        :MAX_RECORD_BYTES
    ],
    "bin32 claiming 4 GB, 64 KiB given": (b"\xc6\xff\xff\xff\xff" + b"\x00" * 70_000)[
        :MAX_RECORD_BYTES
    ],
    "map32 with 60,000 keys claimed, all that fit given": _many_distinct_keys(60_000),
    "map32 with every distinct key that fits": _many_distinct_keys(),
    "map16 of 32,765 repeats of one key": b"\xde\x7f\xfd" + b"\xa0\xc3" * 32_765,
    "record with 60,000 nested fixarrays as body": _in_a_record(b"\x91" * 70_000),
    "record with a 4G array as body": _in_a_record(b"\xdd\xff\xff\xff\xff"),
    "record with 60,000 empty maps as body": _in_a_record(
        _header32(0xDD, 60_000) + b"\x80" * 60_000
    ),
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_refused_as_encoding_in_bounded_memory(data: bytes) -> None:
    assert len(data) <= MAX_RECORD_BYTES
    start = time.perf_counter()
    refusal, grew = _refusal_with_peak(data)
    elapsed = time.perf_counter() - start
    assert refusal.klass == "encoding", str(refusal)
    assert grew <= MEMORY_BUDGET, f"peak traced memory grew by {grew} bytes"
    assert elapsed < 1.0


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_refused_by_the_draft_reader(data: bytes) -> None:
    refusal, grew = _refusal_with_peak(data, Draft.from_wire)
    assert refusal.klass == "encoding"
    assert grew <= MEMORY_BUDGET


# --- fuzz: nothing but Rejected, ever --------------------------------------------------------


def _only_rejections(data: bytes, now_ms: int) -> None:
    for check in (lambda d: validate(d, now_ms), Draft.from_wire):
        try:
            check(data)
        except Rejected as exc:
            assert exc.klass in {"size", "encoding", "schema", "signature", "time", "policy"}


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_rejections(data: bytes) -> None:
    _only_rejections(data, NOW_MS)


loose_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=40),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 9)), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "v": loose_values | st.just(1),
            "kind": loose_values
            | st.sampled_from(["org.profile", "alliance", "attestation", "retract", "x.y", "Bad"]),
            "author": loose_values | st.binary(min_size=32, max_size=32),
            "created": loose_values | st.integers(0, 2**53 - 1),
            "body": loose_values,
            "sigs": loose_values
            | st.lists(st.lists(st.binary(min_size=32, max_size=64), max_size=3), max_size=3),
            "extra": loose_values,
        },
    )
)
def test_record_shaped_msgpack_raises_only_rejections(record: dict[str, Any]) -> None:
    _only_rejections(msgpack.packb(record, use_bin_type=True), NOW_MS)


@st.composite
def mutations(draw: st.DrawFn, wire: bytes) -> bytes:
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate", "repeat", "bitflip"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "bitflip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_vector_records_raise_only_rejections(
    valid_vector: dict, vector_now_ms: int, data: st.DataObject
) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    _only_rejections(data.draw(mutations(wire)), vector_now_ms)
