"""MemoryItemSet against a plain sorted list, fingerprints, bounds and memory use."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from bisect import bisect_left
from itertools import pairwise
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import itemset
from protocol.itemset import (
    FINGERPRINT_LEN,
    MAX_BOUND,
    MAX_CREATED,
    MIN_BOUND,
    Bound,
    Item,
    ItemSet,
    MemoryItemSet,
    between,
    fingerprint_of,
    id_sum,
    varint,
)


class ListItemSet:
    """The obvious ItemSet: a sorted list. Slow, and the reference for MemoryItemSet."""

    def __init__(self, items: list[Item]) -> None:
        self.sorted = sorted(set(items))

    def __len__(self) -> int:
        return len(self.sorted)

    def _slice(self, lo: Bound, hi: Bound) -> list[Item]:
        return self.sorted[bisect_left(self.sorted, lo) : bisect_left(self.sorted, hi)]

    def fingerprint(self, lo: Bound, hi: Bound) -> tuple[int, bytes]:
        part = self._slice(lo, hi)
        return len(part), fingerprint_of(len(part), id_sum(i for _, i in part))

    def items(self, lo: Bound, hi: Bound) -> list[Item]:
        return self._slice(lo, hi)

    def split(self, lo: Bound, hi: Bound, parts: int) -> list[Bound]:
        part = self._slice(lo, hi)
        cuts = sorted({len(part) * k // parts for k in range(1, parts)} - {0})
        return [between(part[c - 1], part[c]) for c in cuts] if len(part) > 1 else []


def make_items(rng: random.Random, n: int, spread: int, style: str) -> list[Item]:
    """Items with few distinct timestamps when ``spread`` is small, and ids that are random,
    adjacent (consecutive integers) or differ only in the first or the last byte."""
    base = rng.randrange(2**255)
    out = []
    for k in range(n):
        if style == "random":
            id_ = rng.randbytes(32)
        elif style == "adjacent":
            id_ = ((base + k) % 2**256).to_bytes(32, "big")
        else:
            at = 0 if style == "first" else 31
            id_ = bytearray(base.to_bytes(32, "big"))
            id_[at] = rng.randrange(256)
            id_ = bytes(id_)
        out.append((1_700_000_000_000 + rng.randrange(spread), id_))
    return out


bounds_strategy = st.one_of(
    st.just(MIN_BOUND),
    st.just(MAX_BOUND),
    st.builds(
        lambda c, p: Bound(1_700_000_000_000 + c, p.rstrip(b"\0")),
        st.integers(0, 6),
        st.binary(max_size=3),
    ),
)


def test_varint_and_fingerprint_of_known_values() -> None:
    assert [varint(n) for n in (0, 1, 127, 128, 200, 16384)] == [
        b"\x00",
        b"\x01",
        b"\x7f",
        b"\x81\x00",
        b"\x81\x48",
        b"\x81\x80\x00",
    ]
    assert fingerprint_of(0, 0) == hashlib.sha256(bytes(33)).digest()[:16]
    ids = [bytes([255] * 32), (1).to_bytes(32, "little")]  # the sum wraps to 0 mod 2^256
    assert fingerprint_of(2, id_sum(ids)) == hashlib.sha256(bytes(32) + b"\x02").digest()[:16]
    assert len(fingerprint_of(5, 12345)) == FINGERPRINT_LEN


def test_between_is_shortest() -> None:
    a, b = (5, bytes(31) + b"\x01"), (5, bytes(31) + b"\x02")
    assert between(a, b) == Bound(5, bytes(31) + b"\x02")
    assert between((5, b"\x10" + bytes(31)), (5, b"\x20" + bytes(31))) == Bound(5, b"\x20")
    assert between((5, b"\xff" * 32), (6, bytes(32))) == Bound(6, b"")
    assert (
        (5, b"\x10" * 32)
        < between((5, b"\x10" * 32), (5, b"\x11" + bytes(31)))
        <= (5, b"\x11" + bytes(31))
    )


def test_rejects_bad_items() -> None:
    s = MemoryItemSet()
    for created, id_ in (
        (-1, bytes(32)),
        (MAX_CREATED, bytes(32)),
        (1, bytes(31)),
        (True, bytes(32)),
        (1.0, bytes(32)),
        (1, "x" * 32),
    ):
        with pytest.raises(ValueError):
            s.add(created, id_)  # type: ignore[arg-type]
    assert len(s) == 0


def test_is_an_itemset() -> None:
    s: ItemSet = MemoryItemSet()
    assert len(s) == 0 and s.fingerprint(MIN_BOUND, MAX_BOUND) == (0, fingerprint_of(0, 0))
    assert s.items(MIN_BOUND, MAX_BOUND) == [] and s.split(MIN_BOUND, MAX_BOUND, 8) == []


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 300),
    spread=st.sampled_from([1, 3, 10**6]),
    style=st.sampled_from(["random", "adjacent", "first", "last"]),
    block=st.sampled_from([2, 3, 7, 1024]),
    queries=st.lists(st.tuples(bounds_strategy, bounds_strategy, st.integers(2, 9)), max_size=8),
)
def test_matches_reference(
    seed: int, n: int, spread: int, style: str, block: int, queries: list[tuple[Bound, Bound, int]]
) -> None:
    rng = random.Random(seed)
    items = make_items(rng, n, spread, style)
    half = len(items) // 2
    with mock.patch.object(itemset, "BLOCK_KEYS", block):
        s = MemoryItemSet(items[:half])  # built in bulk (unsorted, with repeats) ...
        for created, id_ in items[half:]:  # ... and by single adds, which split blocks
            fresh = (created, id_) not in s
            assert s.add(created, id_) == fresh
        for created, id_ in items[: n // 3]:
            assert not s.add(created, id_)
    ref = ListItemSet(items)
    assert len(s) == len(ref) and list(s) == ref.sorted
    assert all(x in s for x in items[:10]) and (0, bytes(32)) not in s
    queries = [*queries, (MIN_BOUND, MAX_BOUND, 8)]
    for k in range(0, len(ref.sorted) - 1, max(1, len(ref.sorted) // 5)):
        queries.append((between(ref.sorted[k], ref.sorted[k + 1]), MAX_BOUND, 4))
    for lo, hi, parts in queries:
        assert s.fingerprint(lo, hi) == ref.fingerprint(lo, hi)
        assert s.items(lo, hi) == ref.items(lo, hi)
        cuts = s.split(lo, hi, parts)
        assert cuts == ref.split(lo, hi, parts)
        assert len(cuts) <= parts - 1 and all(
            lo < c < hi and not c.prefix.endswith(b"\0") for c in cuts
        )
        edges = [lo, *cuts, hi]
        assert not cuts or all(s.fingerprint(a, b)[0] > 0 for a, b in pairwise(edges))


def test_sorted_unsorted_and_repeated_input_build_the_same_set() -> None:
    rng = random.Random(7)
    items = make_items(rng, 5000, 1000, "random")
    a = MemoryItemSet(sorted(items))
    b = MemoryItemSet(items + items[:100])
    c = MemoryItemSet(sorted(items)[2500:] + sorted(items)[:2500])
    assert list(a) == list(b) == list(c) == sorted(set(items))
    assert a.fingerprint(MIN_BOUND, MAX_BOUND) == b.fingerprint(MIN_BOUND, MAX_BOUND)


def test_fingerprint_reads_at_most_two_partial_blocks() -> None:
    rng = random.Random(3)
    s = MemoryItemSet(make_items(rng, 20_000, 10**9, "random"))
    s.fingerprint(MIN_BOUND, MAX_BOUND)  # builds the block index once
    summed = []
    real = itemset._block_sum

    def spy(block: bytes, a: int, b: int) -> int:
        summed.append(b - a)
        return real(block, a, b)

    with mock.patch.object(itemset, "_block_sum", spy):
        for lo, hi in [
            (MIN_BOUND, MAX_BOUND),
            *zip(s.split(MIN_BOUND, MAX_BOUND, 7), s.split(MIN_BOUND, MAX_BOUND, 3), strict=False),
        ]:
            summed.clear()
            s.fingerprint(min(lo, hi), max(lo, hi))
            assert sum(summed) <= itemset.BLOCK_KEYS  # the smaller side of two blocks at most


def test_memory_for_100k_items() -> None:
    rng = random.Random(1)
    items = make_items(rng, 100_000, 10**10, "random")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        s = MemoryItemSet(items)
        s.fingerprint(MIN_BOUND, MAX_BOUND)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(s) == 100_000
    assert used <= 6_000_000, f"{used / len(s):.1f} bytes an item"


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50), st.integers(0, 40)), max_size=300))
@settings(max_examples=60, deadline=None)
def test_remove_keeps_the_set_equal_to_a_plain_set(ops: list[tuple[bool, int, int]]) -> None:
    """Adds and removes in any order leave exactly the expected items and fingerprints."""
    items = MemoryItemSet()
    expected: set[tuple[int, bytes]] = set()
    for is_add, created, n in ops:
        item = (created, bytes([n]) * 32)
        if is_add:
            assert items.add(*item) == (item not in expected)
            expected.add(item)
        else:
            assert items.remove(*item) == (item in expected)
            expected.discard(item)
        assert len(items) == len(expected)
    assert list(items) == sorted(expected)
    count, fp = items.fingerprint(MIN_BOUND, MAX_BOUND)
    assert count == len(expected)
    assert fp == MemoryItemSet(sorted(expected)).fingerprint(MIN_BOUND, MAX_BOUND)[1]
