"""Canonical MessagePack (PROTOCOL-v1 section 2): one encoding per value, all else refused."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from protocol.encoding import MAX_DEPTH, MAX_RECORD_BYTES, decode, encode
from protocol.errors import EncodingError, Rejected, SizeError

MAX_INT = 2**53

# --- generated canonical values --------------------------------------------------------------

scalars = st.one_of(
    st.integers(min_value=-MAX_INT + 1, max_value=MAX_INT - 1),
    st.sampled_from(
        [
            0,
            1,
            -1,
            127,
            128,
            -32,
            -33,
            255,
            256,
            65535,
            65536,
            2**32 - 1,
            2**32,
            MAX_INT - 1,
            -MAX_INT + 1,
        ]
    ),
    st.booleans(),
    st.text(max_size=40),
    st.binary(max_size=40),
)


def values(levels: int) -> st.SearchStrategy[Any]:
    """Canonical values with at most ``levels`` nested containers (a top container included)."""
    if levels == 0:
        return scalars
    inner = values(levels - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    )


def depth(value: Any) -> int:
    """Containers nested in ``value``: 0 for a scalar, 1 for a flat array or map."""
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (so True is not 1) and map key order is ignored."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def keys_in_wire_order_are_sorted(value: Any) -> bool:
    if isinstance(value, list):
        return all(map(keys_in_wire_order_are_sorted, value))
    if isinstance(value, dict):
        keys = [k.encode("utf-8") for k in value]
        return keys == sorted(set(keys)) and all(map(keys_in_wire_order_are_sorted, value.values()))
    return True


# a top-level value with up to MAX_DEPTH levels below it (the nesting of section 2)
canonical_values = values(MAX_DEPTH + 1)


@settings(max_examples=300, deadline=None)
@given(canonical_values)
def test_round_trip(value: Any) -> None:
    assert depth(value) <= MAX_DEPTH + 1
    target(float(depth(value)), label="nesting")  # steer towards the deepest allowed values
    wire = encode(value)
    decoded = decode(wire)
    assert same(decoded, value)
    assert decode(wire) == value
    assert encode(decoded) == wire
    assert keys_in_wire_order_are_sorted(decoded)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), scalars, min_size=2, max_size=8), st.randoms())
def test_insertion_order_does_not_matter(mapping: dict[str, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert encode(dict(items)) == encode(mapping) == encode(dict(sorted(items)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_whatever_decodes_re_encodes_to_the_same_bytes(data: bytes) -> None:
    try:
        value = decode(data)
    except Rejected as exc:
        assert exc.klass == "encoding"
        return
    assert encode(value) == data


def test_the_encoding_is_msgpack_python_output() -> None:
    value = {
        "b": [1, -1, 200, -200, 70000, 2**40],
        "a": {"z": b"\x00\x01", "y": "\u00e9"},
        "c": True,
        "": False,
    }
    in_order = {
        "": False,
        "a": {"y": "\u00e9", "z": b"\x00\x01"},
        "b": [1, -1, 200, -200, 70000, 2**40],
        "c": True,
    }
    assert encode(value) == msgpack.packb(in_order, use_bin_type=True)
    assert encode(value)[0] == 0x84  # fixmap of four keys


def test_unicode_keys_sort_by_utf8_bytes() -> None:
    keys = ["\uffff", "\U0001f600", "a", "é", "z", "", "\u0800"]
    decoded = decode(encode({k: 1 for k in keys}))
    assert [k.encode() for k in decoded] == sorted(k.encode() for k in keys)


# --- refusals --------------------------------------------------------------------------------


def _refused(data: bytes) -> EncodingError:
    with pytest.raises(EncodingError) as info:
        decode(data)
    assert info.value.klass == "encoding"
    return info.value


def _packed(value: Any) -> bytes:
    """msgpack-python's own encoding, without any canonical check."""
    return msgpack.packb(value, use_bin_type=True)


@pytest.mark.parametrize("value", [None, {"a": None}, [1, None]], ids=repr)
def test_nil_refused(value: Any) -> None:
    _refused(_packed(value))
    with pytest.raises(EncodingError):
        encode(value)


@pytest.mark.parametrize(
    "data",
    [
        _packed(1.5),
        _packed(0.0),
        _packed({"a": 2.0}),
        b"\xca" + b"\x3f\x80\x00\x00",  # float32 1.0
        b"\xcb\x3f\xf0" + bytes(6),  # float64 1.0
    ],
    ids=["1.5", "0.0", "nested", "float32", "float64"],
)
def test_float_refused(data: bytes) -> None:
    _refused(data)


def test_float_refused_by_encode() -> None:
    for value in (1.0, [0.5], {"x": float("nan")}):
        with pytest.raises(EncodingError):
            encode(value)


@pytest.mark.parametrize(
    "data",
    [
        _packed(msgpack.ExtType(1, b"x")),
        _packed(msgpack.Timestamp(1_700_000_000)),  # the msgpack timestamp extension (type -1)
        _packed({"a": msgpack.ExtType(5, bytes(16))}),
        b"\xd4\x01\x00",  # fixext1
        b"\xc7\x00\x07",  # ext8 of length 0
    ],
    ids=["ext", "timestamp", "nested", "fixext1", "ext8-empty"],
)
def test_ext_refused(data: bytes) -> None:
    _refused(data)


@pytest.mark.parametrize(
    "data",
    [
        _packed({1: 2}),
        _packed({b"k": 1}),
        _packed({True: 1}),
        b"\x81\x90\x01",  # an array as key
        b"\x81\x80\x01",  # a map as key
        _packed({"a": {-1: "x"}}),
    ],
    ids=["int", "bin", "bool", "array", "map", "nested"],
)
def test_non_string_key_refused(data: bytes) -> None:
    _refused(data)


def test_non_string_key_refused_by_encode() -> None:
    for value in ({1: 2}, {b"k": 1}, {"a": {None: 1}}):
        with pytest.raises(EncodingError):
            encode(value)


@pytest.mark.parametrize(
    "n", [MAX_INT, -MAX_INT, MAX_INT + 1, -MAX_INT - 1, 2**63, -(2**63), 2**64 - 1], ids=str
)
def test_integer_out_of_range_refused(n: int) -> None:
    _refused(_packed(n))
    _refused(_packed({"n": n}))
    with pytest.raises(EncodingError):
        encode(n)


def test_integers_just_inside_the_range_accepted() -> None:
    for n in (MAX_INT - 1, -MAX_INT + 1):
        assert decode(encode(n)) == n
        assert decode(encode([n])) == [n]


@pytest.mark.parametrize(
    "data",
    [
        b"\x82\xa1b\x01\xa1a\x02",
        b"\x82\xa2ab\x01\xa1a\x02",  # a prefix sorts first
        b"\x81\xa1x\x82\xa1z\x01\xa1y\x02",  # nested
        b"\x82\xa2\xc3\xa9\x01\xa1z\x02",  # 'é' (0xc3 0xa9) after 'z' (0x7a) in UTF-8 order
    ],
    ids=["flat", "prefix", "nested", "utf8"],
)
def test_unsorted_keys_refused(data: bytes) -> None:
    _refused(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x82\xa1a\x01\xa1a\x01",
        b"\x82\xa1a\x01\xa1a\x02",
        b"\x83\xa1a\x01\xa1b\x02\xa1b\x03",
        b"\x81\xa1x\x82\xa1a\x01\xa1a\x01",  # nested
    ],
    ids=["same-value", "other-value", "later", "nested"],
)
def test_duplicate_keys_refused(data: bytes) -> None:
    _refused(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xcc\x05",
        b"\xcd\x00\x05",
        b"\xce\x00\x00\x00\x05",
        b"\xcf" + (5).to_bytes(8, "big"),
        b"\xd0\x05",
        b"\xd1\x00\x05",
        b"\xd2\x00\x00\x00\x05",
        b"\xd3" + (5).to_bytes(8, "big"),
        b"\xd0\xff",  # -1 is a negative fixint
        b"\xd1\xff\xdf",  # -33 fits int8
        b"\xcd\x00\xc8",  # 200 fits uint8
        b"\xce\x00\x00\xff\xff",  # 65535 fits uint16
        b"\xd1\x00\xc8",  # 200 as int16
        b"\xd3" + (2**40).to_bytes(8, "big", signed=True),  # positive in a signed form
    ],
    ids=lambda b: b.hex(),
)
def test_non_shortest_integer_refused(data: bytes) -> None:
    _refused(data)
    _refused(b"\x91" + data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xd9\x01a",
        b"\xda\x00\x01a",
        b"\xdb\x00\x00\x00\x01a",  # 'a' is a fixstr
        b"\xd9\x00",
        b"\xda\x00\x00",  # '' is a fixstr
        b"\xda\x00\x20" + b"a" * 32,  # 32 characters take str8
        b"\xc5\x00\x01\x00",
        b"\xc6\x00\x00\x00\x01\x00",  # bin8 is the shortest bin
    ],
    ids=lambda b: b[:6].hex(),
)
def test_non_shortest_string_refused(data: bytes) -> None:
    _refused(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xdc\x00\x00",
        b"\xdd\x00\x00\x00\x00",  # [] is a fixarray
        b"\xdc\x00\x01\x01",
        b"\xdd\x00\x00\x00\x01\x01",
        b"\xde\x00\x00",
        b"\xdf\x00\x00\x00\x00",  # {} is a fixmap
        b"\xde\x00\x01\xa1a\x01",
        b"\xdc\x00\x0f" + b"\x01" * 15,  # fifteen items fit a fixarray
    ],
    ids=lambda b: b[:6].hex(),
)
def test_non_shortest_container_header_refused(data: bytes) -> None:
    _refused(data)


def test_str_type_versus_bin_type_is_kept() -> None:
    assert decode(b"\xa1a") == "a"
    assert decode(b"\xc4\x01a") == b"a"
    assert encode("a") != encode(b"a")


@pytest.mark.parametrize("suffix", [b"\x00", b"\xc0", b"\x90", b"\xa1a", b"\x00" * 100])
def test_trailing_bytes_refused(suffix: bytes, vectors: dict) -> None:
    wire = bytes.fromhex(vectors["protocol"]["valid"][0]["record_hex"])
    decode(wire)
    _refused(wire + suffix)
    _refused(encode({"a": 1}) + suffix)


def test_every_truncation_of_a_valid_record_refused(valid_vector: dict) -> None:
    wire = bytes.fromhex(valid_vector["record_hex"])
    decode(wire)
    for end in range(len(wire)):
        _refused(wire[:end])


@pytest.mark.parametrize(
    "data",
    [
        b"\xa1\xff",
        b"\xa2\xc3\x28",
        b"\xa2\xc0\xaf",  # invalid byte, bad continuation, overlong
        b"\xa3\xed\xa0\x80",  # an encoded surrogate
        b"\xa4\xf4\x90\x80\x80",  # above U+10FFFF
        b"\xa1\x80",  # lone continuation byte
        b"\x81\xa1\xff\x01",  # in a key
    ],
    ids=lambda b: b.hex(),
)
def test_invalid_utf8_refused(data: bytes) -> None:
    _refused(data)


def _nested(levels: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if kind == "array" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["array", "map"])
def test_nesting_limit(kind: str) -> None:
    """A record may hold MAX_DEPTH levels below it: MAX_DEPTH + 1 containers in all."""
    deepest = _nested(MAX_DEPTH + 1, kind)
    assert decode(encode(deepest)) == deepest
    too_deep = _nested(MAX_DEPTH + 2, kind)
    _refused(_packed(too_deep))
    with pytest.raises(EncodingError):
        encode(too_deep)
    _refused(_packed(_nested(100, kind)))


def test_oversized_input_is_a_size_error() -> None:
    ok = encode(b"\x00" * (MAX_RECORD_BYTES - 3))  # bin16 header: exactly the limit
    assert len(ok) == MAX_RECORD_BYTES
    assert decode(ok) == b"\x00" * (MAX_RECORD_BYTES - 3)
    too_big = encode(b"\x00" * (MAX_RECORD_BYTES - 2))
    assert len(too_big) == MAX_RECORD_BYTES + 1
    with pytest.raises(SizeError) as info:
        decode(too_big)
    assert info.value.klass == "size"


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x91", b"\x81\xa1a"], ids=lambda b: b.hex())
def test_empty_reserved_or_incomplete_refused(data: bytes) -> None:
    _refused(data)
