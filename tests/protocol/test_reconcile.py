"""Reconciliation between an Initiator and the stateless responder over an in-process link."""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.encoding import encode
from protocol.errors import EncodingError, Rejected, SizeError
from protocol.itemset import (
    FINGERPRINT_LEN,
    MAX_BOUND,
    MIN_BOUND,
    Bound,
    Item,
    MemoryItemSet,
)
from protocol.reconcile import (
    DEFAULT_LIMITS,
    MAX_IDS,
    REQUEST_MODES,
    Initiator,
    Limits,
    Mode,
    Range,
    ReconcileError,
    decode_message,
    encode_message,
    entry_size,
    respond,
)

T0 = 1_700_000_000_000  # ms


@dataclass
class Run:
    initiator: Initiator
    rounds: int = 0
    total: int = 0
    sizes: list[int] = field(default_factory=list)


def link(initiator: Initiator, responder: Callable[[bytes], bytes]) -> Run:
    """Drive a session to its end; every message is counted, both ways."""
    run = Run(initiator)
    message: bytes | None = initiator.start()
    while message is not None:
        reply = responder(message)
        run.sizes += [len(message), len(reply)]
        run.rounds += 1
        message = initiator.receive(reply)
    run.total = sum(run.sizes)
    assert initiator.done and run.rounds == initiator.rounds
    assert run.total == initiator.bytes_sent + initiator.bytes_received
    return run


def reconcile(a: list[Item], b: list[Item], limits: Limits = DEFAULT_LIMITS) -> Run:
    ours, theirs = MemoryItemSet(a), MemoryItemSet(b)
    run = link(Initiator(ours, limits), lambda m: respond(theirs, m, limits))
    ids_a, ids_b = {i for _, i in a}, {i for _, i in b}
    assert run.initiator.have == ids_b - ids_a
    assert run.initiator.need == ids_a - ids_b
    assert max(run.sizes) <= limits.max_message_bytes
    return run


def random_items(
    rng: random.Random, n: int, spread: int = 30 * 86_400_000, start: int = T0
) -> list[Item]:
    return [(start + rng.randrange(spread), rng.randbytes(32)) for _ in range(n)]


def sets(
    rng: random.Random,
    shared: int,
    only_a: int,
    only_b: int,
    style: str,
) -> tuple[list[Item], list[Item]]:
    """Two sets drawn from one pool; ``style`` makes timestamps collide or ids adjacent.

    Ids stay random in their last 8 bytes: like negentropy's, the fingerprint is a sum, so
    ids in arithmetic progression (x+1, x+4 against x+2, x+3) collide by design. Real ids are
    SHA-256 digests (see docs/sync.md)."""
    n = shared + only_a + only_b
    if style == "random":
        pool = random_items(rng, n)
    elif style == "same-created":
        pool = random_items(rng, n, spread=2)
    else:  # ids sharing 24 bytes under few timestamps: bounds need long id prefixes
        head = rng.randbytes(24)
        pool = [(T0 + rng.randrange(3), head + rng.randbytes(8)) for _ in range(n)]
    rng.shuffle(pool)
    common, a, b = pool[:shared], pool[shared : shared + only_a], pool[shared + only_a :]
    return common + a, common + b


sizes = st.integers(0, 2000).flatmap(
    lambda total: st.tuples(st.integers(0, total), st.integers(0, total)).map(
        lambda ab: (total - max(ab), min(ab), max(ab) - min(ab))
    )
)


@settings(max_examples=100, deadline=None)
@example(seed=1, split=(1000, 500, 500), style="random", swap=False)
@example(seed=2, split=(1500, 200, 300), style="adjacent", swap=True)
@example(seed=3, split=(0, 1000, 1000), style="same-created", swap=False)
@given(
    seed=st.integers(0, 2**32),
    split=sizes,
    style=st.sampled_from(["random", "same-created", "adjacent"]),
    swap=st.booleans(),
)
def test_exact_have_and_need(
    seed: int, split: tuple[int, int, int], style: str, swap: bool
) -> None:
    rng = random.Random(seed)
    shared, only_a, only_b = split
    a, b = sets(rng, shared, only_b if swap else only_a, only_a if swap else only_b, style)
    run = reconcile(a, b)
    assert run.rounds <= 8


TIGHT = Limits(
    max_rounds=100_000,
    max_message_bytes=4096,
    max_total_bytes=2**40,
    max_ranges=64,
    batch_ranges=16,
    max_pending=10**6,
)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    split=sizes,
    style=st.sampled_from(["random", "same-created", "adjacent"]),
)
def test_exact_under_tight_limits(seed: int, split: tuple[int, int, int], style: str) -> None:
    """Tiny messages force every fallback: deferred ranges, cut answers, streamed id lists."""
    rng = random.Random(seed)
    a, b = sets(rng, *split, style)
    reconcile(a, b, TIGHT)


def test_one_side_empty() -> None:
    rng = random.Random(2)
    items = random_items(rng, 3000)
    assert reconcile([], items).rounds <= 3
    assert reconcile(items, []).rounds == 1
    assert reconcile([], []).total < 64


def test_identical_10k_in_one_round_under_512_bytes() -> None:
    items = random_items(random.Random(4), 10_000)
    run = reconcile(items, list(reversed(items)))
    assert run.rounds == 1
    assert run.total < 512, run.sizes


RECENT_BOUND = 2048 + 64 * 20  # 10 differences on each side
SCATTERED_BOUND = 2560 * 20


def test_10k_shared_and_10_recent_differences() -> None:
    rng = random.Random(5)
    shared = random_items(rng, 10_000)
    newest = max(c for c, _ in shared)
    a = shared + random_items(rng, 10, 3_600_000, newest + 1)
    b = shared + random_items(rng, 10, 3_600_000, newest + 1)
    run = reconcile(a, b)
    assert run.rounds <= 4
    assert run.total <= RECENT_BOUND, run.sizes


def test_10k_shared_and_10_scattered_differences() -> None:
    rng = random.Random(6)
    shared = random_items(rng, 10_000)
    run = reconcile(shared + random_items(rng, 10), shared + random_items(rng, 10))
    assert run.rounds <= 4
    assert run.total <= SCATTERED_BOUND, run.sizes


def test_items_added_during_the_session_are_still_reconciled() -> None:
    rng = random.Random(8)
    shared = random_items(rng, 2000)
    ours, theirs = MemoryItemSet(shared[:1500]), MemoryItemSet(shared[500:])
    initiator = Initiator(ours)
    message = initiator.start()
    late = random_items(rng, 5)
    for created, id_ in late:
        ours.add(created, id_)
    while message is not None:
        message = initiator.receive(respond(theirs, message))
    assert initiator.have == {i for _, i in shared[1500:]}
    assert initiator.need <= {i for _, i in shared[:500] + late}
    assert {i for _, i in shared[:500]} <= initiator.need


# ----- the wire format


def test_message_bytes() -> None:
    whole = encode_message([Range(MIN_BOUND, MAX_BOUND, Mode.SKIP)])
    assert whole == bytes([0x92, 0x01, 0x94, 0xFF, 0xC4, 0x00, 0x00, 0xC4, 0x00])
    fp = bytes(range(16))
    two = encode_message(
        [
            Range(MIN_BOUND, Bound(300, b"\x07"), Mode.SKIP),
            Range(Bound(300, b"\x07"), MAX_BOUND, Mode.FINGERPRINT, fp),
        ]
    )
    assert two == bytes(
        [
            0x92,
            0x01,
            0x98,
            0xCD,
            0x01,
            0x2C,
            0xC4,
            0x01,
            0x07,
            0x00,
            0xC4,
            0x00,
            0xFF,
            0xC4,
            0x00,
            0x01,
            0xC4,
            0x10,
            *fp,
        ]
    )
    assert decode_message(two, REQUEST_MODES, DEFAULT_LIMITS)[1] == Range(
        Bound(300, b"\x07"), MAX_BOUND, Mode.FINGERPRINT, fp
    )


def test_adjacent_skips_merge_and_many_ranges_use_groups() -> None:
    cuts = [MIN_BOUND, *(Bound(k, b"") for k in range(1, 600)), MAX_BOUND]
    many = [Range(a, b, Mode.FINGERPRINT, bytes(16)) for a, b in pairwise(cuts)]
    assert decode_message(encode_message(many), REQUEST_MODES, DEFAULT_LIMITS) == many
    assert len(encode_message(many)) <= 16 + sum(map(entry_size, many))
    skips = [Range(r.lo, r.hi, Mode.SKIP) for r in many]
    assert encode_message(skips) == encode_message([Range(MIN_BOUND, MAX_BOUND, Mode.SKIP)])


def entries(*rows: list[object]) -> bytes:
    """A message from raw rows of [delta, prefix, mode, payload]."""
    flat = [x for row in rows for x in row]
    return encode([1, flat])


END = [-1, b"", 0, b""]


@pytest.mark.parametrize(
    "bad",
    [
        encode([1]),
        encode([2, END]),
        encode([True, END]),
        encode({"v": 1}),
        encode([1, []]),
        encode([1, [-1, b"", 0]]),
        entries([5, b"", 0, b""]),  # does not reach the end
        entries(END, [1, b"", 0, b""]),  # a range after the end
        entries([5, b"", 1, bytes(16)], [0, b"", 0, b""]),  # bound does not increase
        entries([5, b"\x01", 1, bytes(16)], [0, b"\x01", 0, b""], END),  # repeated bound
        entries([5, b"\x02", 1, bytes(16)], [0, b"\x01", 0, b""], END),  # bound goes back
        entries([-2, b"", 0, b""]),  # negative delta
        entries([2**53 - 1, b"", 1, bytes(16)], [1, b"", 0, b""], END),  # created out of range
        entries([5, b"\x01\x00", 1, bytes(16)], END),  # prefix ends in a zero byte
        entries([5, bytes(33), 1, bytes(16)], END),  # prefix too long
        entries([-1, b"\x01", 1, bytes(16)]),  # end with a prefix
        entries([5, b"", 0, b""], END),  # two skips in a row
        entries([5, b"", 0, b"x"], [-1, b"", 1, bytes(16)]),  # skip with a payload
        entries([-1, b"", 1, bytes(15)]),  # fingerprint of the wrong length
        entries([-1, b"", 1, bytes(17)]),
        entries([-1, b"", 9, b""]),  # unknown mode
        entries([-1, b"", 3, b""]),  # DIFF is not allowed in a request
        entries([-1, b"", 2, bytes(33)]),  # ids not a multiple of 32 bytes
        entries([-1, b"", 2, bytes(64)]),  # ids repeated
        entries([-1, b"", 2, b"\x02" * 32 + b"\x01" * 32]),  # ids not ascending
        entries([-1, b"", 2, bytes(32 * (MAX_IDS + 1))]),  # too many ids
        entries(["5", b"", 0, b""], END),
        entries([5, "x", 1, bytes(16)], END),
        entries([5, b"", False, b""], END),
    ],
)
def test_responder_rejects_malformed_requests(bad: bytes) -> None:
    with pytest.raises(Rejected) as info:
        respond(MemoryItemSet(), bad)
    assert info.value.klass in ("sync", "encoding")


def test_responder_caps_its_work_and_size() -> None:
    limits = Limits(max_ranges=64, batch_ranges=16)
    cuts = [MIN_BOUND, *(Bound(k, b"") for k in range(1, 66)), MAX_BOUND]
    many = [Range(a, b, Mode.FINGERPRINT, bytes(16)) for a, b in pairwise(cuts)]
    with pytest.raises(ReconcileError, match="more than 64 ranges"):
        respond(MemoryItemSet(), encode_message(many), limits)
    with pytest.raises(SizeError):
        respond(MemoryItemSet(), bytes(DEFAULT_LIMITS.max_message_bytes + 1))
    # a full request of ranges over a large set still gets a reply within the limits
    items = MemoryItemSet(random_items(random.Random(9), 20_000))
    cuts = [MIN_BOUND, *items.split(MIN_BOUND, MAX_BOUND, 4000), MAX_BOUND]
    asks = [
        Range(a, b, Mode.IDS if k % 2 else Mode.FINGERPRINT, b"" if k % 2 else os.urandom(16))
        for k, (a, b) in enumerate(pairwise(cuts))
    ]
    small = Limits(max_message_bytes=200_000, max_ranges=8192, batch_ranges=4096)
    reply = respond(items, encode_message(asks), small)
    assert len(reply) <= small.max_message_bytes
    assert sum(r.mode != Mode.SKIP for r in decode_message(reply, frozenset(Mode), small)) <= 8192


def test_truncated_or_extended_messages_fail_cleanly() -> None:
    rng = random.Random(10)
    a, b = sets(rng, 3000, 40, 40, "random")
    theirs = MemoryItemSet(b)
    initiator = Initiator(MemoryItemSet(a))
    request = initiator.start()
    reply = respond(theirs, request)
    for cut in range(len(request)):
        with pytest.raises((ReconcileError, EncodingError)):
            respond(theirs, request[:cut])
    with pytest.raises(EncodingError):
        respond(theirs, request + b"\x00")
    for cut in (0, 1, 2, len(reply) // 2, len(reply) - 1):
        fresh = Initiator(MemoryItemSet(a))
        fresh.start()
        with pytest.raises((ReconcileError, EncodingError)):
            fresh.receive(reply[:cut])
        assert not fresh.done
        with pytest.raises(ReconcileError):
            fresh.receive(reply)  # a failed session stays failed


def test_initiator_misuse() -> None:
    initiator = Initiator(MemoryItemSet())
    with pytest.raises(ReconcileError):
        initiator.receive(b"")
    initiator.start()
    with pytest.raises(ReconcileError):
        initiator.start()
    with pytest.raises(ValueError):
        Limits(batch_ranges=10_000, max_ranges=10_000)


# ----- hostile responders


def asked(message: bytes) -> list[Range]:
    return [
        r for r in decode_message(message, REQUEST_MODES, DEFAULT_LIMITS) if r.mode != Mode.SKIP
    ]


def covering(answers: list[Range]) -> bytes:
    """A reply made of the given answers and skips around them."""
    out, lo = [], MIN_BOUND
    for r in answers:
        if r.lo != lo:
            out.append(Range(lo, r.lo, Mode.SKIP))
        out.append(r)
        lo = r.hi
    if lo != MAX_BOUND:
        out.append(Range(lo, MAX_BOUND, Mode.SKIP))
    return encode_message(out)


def never_agrees(message: bytes) -> bytes:
    return covering(
        [Range(r.lo, r.hi, Mode.FINGERPRINT, os.urandom(FINGERPRINT_LEN)) for r in asked(message)]
    )


def splits_forever(message: bytes) -> bytes:
    """Cuts every range it is asked about into fake halves that never match."""
    out = []
    for r in asked(message):
        mid = Bound(r.lo.created, r.lo.prefix + b"\x80") if r.lo.prefix != b"\xff" * 32 else None
        if mid is not None and r.lo < mid < r.hi:
            out += [
                Range(r.lo, mid, Mode.FINGERPRINT, os.urandom(16)),
                Range(mid, r.hi, Mode.FINGERPRINT, os.urandom(16)),
            ]
        else:
            out.append(Range(r.lo, r.hi, Mode.FINGERPRINT, os.urandom(16)))
    return covering(out)


def out_of_order(message: bytes) -> bytes:
    return entries([10, b"", 1, bytes(16)], [0, b"", 0, b""], END)


def huge_ids(message: bytes) -> bytes:
    return entries([-1, b"", 2, b"".join(sorted(os.urandom(32) for _ in range(MAX_IDS + 1)))])


def answers_elsewhere(message: bytes) -> bytes:
    """Answers with ids over the whole key space, not only the ranges asked."""
    return covering([Range(MIN_BOUND, MAX_BOUND, Mode.IDS, os.urandom(32))])


def diff_for_a_fingerprint(message: bytes) -> bytes:
    return covering([Range(r.lo, r.hi, Mode.DIFF, b"") for r in asked(message)])


def garbage(message: bytes) -> bytes:
    return os.urandom(200)


def oversized(message: bytes) -> bytes:
    return bytes(DEFAULT_LIMITS.max_message_bytes + 1)


@pytest.mark.parametrize(
    "hostile",
    [
        never_agrees,
        splits_forever,
        out_of_order,
        huge_ids,
        answers_elsewhere,
        diff_for_a_fingerprint,
        garbage,
        oversized,
    ],
)
def test_hostile_responder_ends_the_session(hostile: Callable[[bytes], bytes]) -> None:
    items = MemoryItemSet(random_items(random.Random(11), 5000))
    limits = Limits(max_ranges=1024, batch_ranges=256)  # the default rounds and sizes
    initiator = Initiator(items, limits)
    message: bytes | None = initiator.start()
    requests = 1
    with pytest.raises(Rejected) as info:
        while message is not None:
            message = initiator.receive(hostile(message))
            requests += 1
    assert requests <= limits.max_rounds
    assert not initiator.done
    if hostile in (never_agrees, splits_forever):
        assert "not reconciled within 64 rounds" in str(info.value)


def test_hostile_diffs_are_rejected() -> None:
    rng = random.Random(12)
    ours = random_items(rng, 5)
    theirs = MemoryItemSet(ours + random_items(rng, 200))
    initiator = Initiator(MemoryItemSet(ours))
    message = initiator.receive(respond(theirs, initiator.start()))
    assert message is not None
    sent = max((r for r in asked(message) if r.mode == Mode.IDS), key=lambda r: len(r.payload))
    k = len(sent.payload) // 32
    assert k >= 1
    width = (k + 7) // 8
    bad = [
        bytes(width - 1),  # the bitmap cut short
        bytes(width) + sent.payload[:32],  # one of our own ids claimed as theirs
        bytes(width) + os.urandom(31),
    ]  # not whole ids
    if k % 8:
        bad.append(bytes(width - 1) + bytes([0x80]))  # a padding bit set
    for payload in bad:
        with pytest.raises(ReconcileError):
            copy.deepcopy(initiator).receive(
                covering([Range(sent.lo, sent.hi, Mode.DIFF, payload)])
            )
    good = copy.deepcopy(initiator)
    assert good.receive(covering([Range(sent.lo, sent.hi, Mode.DIFF, bytes(width))])) is None
    inside = Range(
        sent.lo, Bound(sent.hi.created, sent.hi.prefix + b"\x01"), Mode.DIFF, bytes(width)
    )
    if sent.hi != MAX_BOUND:  # a diff must answer exactly the range that was sent as ids
        with pytest.raises(ReconcileError):
            copy.deepcopy(initiator).receive(covering([inside]))


def test_pending_work_is_capped() -> None:
    items = MemoryItemSet(random_items(random.Random(13), 5000))
    limits = Limits(max_pending=20)
    initiator = Initiator(items, limits)
    message = initiator.start()
    with pytest.raises(ReconcileError, match="pending"):
        for _ in range(10):
            message = initiator.receive(splits_forever(message))


if __name__ == "__main__":  # measured bytes and rounds: PYTHONPATH=. python tests/protocol/...
    import time

    for n in (10_000, 100_000):
        for kind in ("recent", "scattered"):
            for d in (0, 1, 10, 100, 1000):
                rng = random.Random(n + d)
                shared = random_items(rng, n)
                start = max(c for c, _ in shared) + 1 if kind == "recent" else T0
                spread = 3_600_000 if kind == "recent" else 30 * 86_400_000
                t = time.perf_counter()
                run = reconcile(
                    shared + random_items(rng, d, spread, start),
                    shared + random_items(rng, d, spread, start),
                )
                print(
                    f"N={n:>7} {kind:9} d={d:>4}: {run.total:>8} bytes, {run.rounds} rounds,"
                    f" largest message {max(run.sizes)}, {time.perf_counter() - t:.2f} s"
                )
