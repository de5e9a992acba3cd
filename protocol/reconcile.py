"""Range-based set reconciliation in the manner of negentropy, as sans-IO state machines.

The initiator (``Initiator``) holds the session; the responder (``respond``) is a pure function
of its item set and one request, so it can answer plain HTTP POSTs. Every message is one
canonical msgpack value listing ranges that cover the whole key space in order. docs/sync.md
describes the format byte by byte, the algorithm, the limits and why a lying peer is harmless.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from itertools import pairwise

from protocol.encoding import decode, encode
from protocol.errors import Rejected
from protocol.itemset import (
    FINGERPRINT_LEN,
    ID_LEN,
    MAX_BOUND,
    MAX_CREATED,
    MIN_BOUND,
    Bound,
    ItemSet,
)

VERSION = 1
BRANCH = 8  # B: a mismatched range is cut into this many sub-ranges
ID_THRESHOLD = 8  # T: a mismatched range with at most T items is sent as its ids
DIFF_CAP = 128  # the responder answers an id list with a diff when it holds at most this many
MAX_IDS = 1024  # ids in one range of any message
START_RATIO = 4  # start(): each range holds ~1/START_RATIO of the items from its lower bound on
START_TAIL = 2 * ID_THRESHOLD  # start(): the newest range holds at most about this many
GROUP = 256  # ranges in one msgpack array of a message
_FP_ENTRY = 10 + 2 + ID_LEN + 1 + 2 + FINGERPRINT_LEN  # most bytes a fingerprint range takes
_SKIP_ENTRY = 10 + 2 + ID_LEN + 1 + 2  # most bytes a skip range takes


class Mode(IntEnum):
    SKIP = 0  # nothing (more) to do in this range
    FINGERPRINT = 1  # payload: fingerprint of the sender's items in the range
    IDS = 2  # payload: all of the sender's ids in the range, ascending, 32 bytes each
    DIFF = 3  # reply to IDS: bitmap of the ids the responder lacks, then ids it alone has


REQUEST_MODES = frozenset({Mode.SKIP, Mode.FINGERPRINT, Mode.IDS})
REPLY_MODES = frozenset(Mode)


class ReconcileError(Rejected):
    """A reconciliation message or session that breaks the protocol or its limits."""

    klass = "sync"


@dataclass(frozen=True)
class Limits:
    max_rounds: int = 64  # requests the initiator sends in one session
    max_message_bytes: int = 512 * 1024
    max_total_bytes: int = 48 * 1024 * 1024  # both directions, one session
    max_ranges: int = 16_384  # non-skip ranges in one message: caps the responder's work
    batch_ranges: int = 8192  # non-skip ranges the initiator puts in one request
    max_pending: int = 65_536  # mismatched ranges the initiator may have waiting

    def __post_init__(self) -> None:
        if (
            self.max_rounds < 1
            or self.max_message_bytes < 4096
            or self.max_pending < 1
            or not BRANCH <= self.batch_ranges <= self.max_ranges // 2
        ):
            raise ValueError(f"limits that cannot make progress: {self}")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Range:
    lo: Bound
    hi: Bound
    mode: Mode
    payload: bytes = b""


# ----- wire format


def _int_size(n: int) -> int:
    return 1 if -32 <= n < 128 else 2 if n < 256 else 3 if n < 65_536 else 5 if n < 2**32 else 9


def entry_size(r: Range) -> int:
    """Bytes of one encoded range, plus one for its share of the group headers. Exact, or
    smaller once adjacent skips are merged: a range's delta is taken from its own lower bound,
    which is what the bound before it in any message is."""
    delta = -1 if r.hi == MAX_BOUND else r.hi.created - r.lo.created
    n = len(r.payload)
    return (
        1
        + _int_size(delta)
        + 2
        + len(r.hi.prefix)
        + 1
        + n
        + (2 if n < 256 else 3 if n < 65_536 else 5)
    )


def encode_message(ranges: list[Range]) -> bytes:
    """Encode ranges that cover the key space in order, merging adjacent skips."""
    merged: list[Range] = []
    for r in ranges:
        if r.mode == Mode.SKIP and merged and merged[-1].mode == Mode.SKIP:
            merged[-1] = Range(merged[-1].lo, r.hi, Mode.SKIP)
        else:
            merged.append(r)
    flat: list[int | bytes] = []
    prev = 0
    for r in merged:
        if r.hi == MAX_BOUND:
            flat += [-1, b"", int(r.mode), r.payload]
        else:
            flat += [r.hi.created - prev, r.hi.prefix, int(r.mode), r.payload]
            prev = r.hi.created
    return encode([VERSION, *(flat[i : i + 4 * GROUP] for i in range(0, len(flat), 4 * GROUP))])


def decode_message(data: bytes, modes: frozenset[Mode], limits: Limits) -> list[Range]:
    """Decode and check a message: its shape, bounds strictly increasing up to the end, modes,
    payload sizes, the count of non-skip ranges. Raises ``ReconcileError`` (or the
    ``EncodingError``/``SizeError`` of ``decode``)."""
    value = decode(data, limits.max_message_bytes)
    if (
        not isinstance(value, list)
        or len(value) < 2
        or type(value[0]) is not int
        or (value[0] != VERSION)
    ):
        raise ReconcileError("not a version 1 reconciliation message")
    groups = value[1:]
    out: list[Range] = []
    lo, prev, active = MIN_BOUND, 0, 0
    for g, group in enumerate(groups):
        if not isinstance(group, list) or len(group) % 4 or not group:
            raise ReconcileError("a group is not a non-empty list of 4-element ranges")
        if g < len(groups) - 1 and len(group) != 4 * GROUP:
            raise ReconcileError(f"a group before the last does not hold {GROUP} ranges")
        for k in range(0, len(group), 4):
            delta, prefix, mode, payload = group[k : k + 4]
            if (
                type(delta) is not int
                or type(mode) is not int
                or not isinstance(prefix, bytes)
                or not isinstance(payload, bytes)
            ):
                raise ReconcileError("a range is not [int, bytes, int, bytes]")
            if lo == MAX_BOUND:
                raise ReconcileError("a range after the end of the key space")
            if len(prefix) > ID_LEN or prefix.endswith(b"\0"):
                raise ReconcileError("an id prefix is over 32 bytes or ends in a zero byte")
            if delta == -1 and not prefix:
                hi = MAX_BOUND
            elif 0 <= delta < MAX_CREATED - prev:
                prev += delta
                hi = Bound(prev, prefix)
            else:
                raise ReconcileError(f"bad created delta {delta}")
            if hi <= lo:
                raise ReconcileError("bounds do not increase")
            if mode not in modes:
                raise ReconcileError(f"mode {mode} is unknown or not allowed here")
            r = Range(lo, hi, Mode(mode), payload)
            _check_payload(r, out[-1].mode if out else None)
            if r.mode != Mode.SKIP:
                active += 1
                if active > limits.max_ranges:
                    raise ReconcileError(f"more than {limits.max_ranges} ranges to work on")
            out.append(r)
            lo = hi
    if lo != MAX_BOUND:
        raise ReconcileError("the ranges do not cover the key space")
    return out


def _check_payload(r: Range, before: Mode | None) -> None:
    n = len(r.payload)
    if r.mode == Mode.SKIP and (n or before == Mode.SKIP):
        raise ReconcileError("a skip with a payload, or two skips in a row")
    if r.mode == Mode.FINGERPRINT and n != FINGERPRINT_LEN:
        raise ReconcileError(f"a fingerprint of {n} bytes")
    if r.mode == Mode.IDS:
        unpack_ids(r.payload)


def unpack_ids(payload: bytes) -> list[bytes]:
    """Split concatenated ids, checking the length, the cap and strictly ascending order."""
    if len(payload) % ID_LEN or len(payload) > MAX_IDS * ID_LEN:
        raise ReconcileError(f"an id list of {len(payload)} bytes")
    ids = [payload[i : i + ID_LEN] for i in range(0, len(payload), ID_LEN)]
    if any(a >= b for a, b in pairwise(ids)):
        raise ReconcileError("ids not strictly ascending")
    return ids


def _ids(items: ItemSet, lo: Bound, hi: Bound) -> list[bytes]:
    return sorted(id_ for _, id_ in items.items(lo, hi))


def _fingerprints(items: ItemSet, lo: Bound, hi: Bound) -> list[Range]:
    """The range cut into up to BRANCH parts of equal count, each with its fingerprint."""
    cuts = [lo, *items.split(lo, hi, BRANCH), hi]
    return [Range(a, b, Mode.FINGERPRINT, items.fingerprint(a, b)[1]) for a, b in pairwise(cuts)]


def _resolve(items: ItemSet, lo: Bound, hi: Bound, count: int) -> list[Range]:
    """What the side that saw a mismatch sends: its ids when few, else finer fingerprints."""
    if count <= ID_THRESHOLD:
        ids = _ids(items, lo, hi)
        if len(ids) <= ID_THRESHOLD:  # it may have grown since it was counted
            return [Range(lo, hi, Mode.IDS, b"".join(ids))]
    return _fingerprints(items, lo, hi)


# ----- responder


def respond(items: ItemSet, message: bytes, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Answer one request. Stateless, and bounded: the reply stays within
    ``limits.max_message_bytes`` and ``limits.max_ranges``. Room is kept for a one-range answer
    to every range still to come; a range whose full answer does not fit gets finer
    fingerprints, or else the responder's own fingerprint (the initiator then goes on with it)."""
    ranges = decode_message(message, REQUEST_MODES, limits)
    reserve = sum(map(entry_size, map(_fallback_shape, ranges)))
    size = 16
    if size + reserve > limits.max_message_bytes:
        raise ReconcileError("a request too large to answer within the message limit")
    out: list[Range] = []
    todo = sum(r.mode != Mode.SKIP for r in ranges)  # still to answer, one range each at least
    active = 0  # non-skip ranges in the reply so far
    for r in ranges:
        reserve -= entry_size(_fallback_shape(r))
        if r.mode == Mode.SKIP:
            answer = [r]
        else:
            todo -= 1
            answer = _answer(
                items,
                r,
                limits.max_message_bytes - size - reserve,
                limits.max_ranges - active - todo,
            )
        size += sum(map(entry_size, answer))
        active += sum(x.mode != Mode.SKIP for x in answer)
        out += answer
    return encode_message(out)


def _fallback_shape(r: Range) -> Range:
    """A range of the size of the smallest answer we may give to ``r``."""
    return r if r.mode == Mode.SKIP else Range(r.lo, r.hi, Mode.FINGERPRINT, bytes(FINGERPRINT_LEN))


def _answer(items: ItemSet, r: Range, room: int, slots: int) -> list[Range]:
    """The answer to one range, in at most ``room`` bytes and ``slots`` non-skip ranges."""
    count, fp = items.fingerprint(r.lo, r.hi)
    for attempt in (_full_answer, _split_answer):
        answer = attempt(items, r, count, fp, room, slots)
        if answer and sum(map(entry_size, answer)) <= room and len(answer) <= slots:
            return answer
    return [Range(r.lo, r.hi, Mode.FINGERPRINT, fp)]


def _split_answer(
    items: ItemSet, r: Range, count: int, fp: bytes, room: int, slots: int
) -> list[Range]:
    if count < 2 or slots < BRANCH or room < BRANCH * _FP_ENTRY:
        return []
    return _fingerprints(items, r.lo, r.hi)


def _full_answer(
    items: ItemSet, r: Range, count: int, fp: bytes, room: int, slots: int
) -> list[Range]:
    """SKIP, IDS or finer fingerprints for a fingerprint; DIFF or our ids for an id list.
    Returns [] early when the answer plainly cannot fit."""
    if r.mode == Mode.FINGERPRINT:
        if fp == r.payload:
            return [Range(r.lo, r.hi, Mode.SKIP)]
        if count > ID_THRESHOLD:
            return _split_answer(items, r, count, fp, room, slots)
        return _resolve(items, r.lo, r.hi, count)
    if count > DIFF_CAP:
        return _stream(items, r.lo, r.hi, count, room)
    if room < len(r.payload) // ID_LEN // 8 + ID_LEN * count + _FP_ENTRY:
        return []
    theirs = unpack_ids(r.payload)
    mine = set(_ids(items, r.lo, r.hi))
    bitmap = bytearray((len(theirs) + 7) // 8)
    for i, id_ in enumerate(theirs):
        if id_ not in mine:
            bitmap[i // 8] |= 1 << (i % 8)
    extra = sorted(mine.difference(theirs))
    if not extra and not any(bitmap):
        return [Range(r.lo, r.hi, Mode.SKIP)]
    return [Range(r.lo, r.hi, Mode.DIFF, bytes(bitmap) + b"".join(extra))]


def _stream(items: ItemSet, lo: Bound, hi: Bound, count: int, room: int) -> list[Range]:
    """Answer to a short id list where we hold many: our ids, in lists of up to MAX_IDS from
    ``lo`` on, as many as there is room for, then the fingerprint of the rest. (The peer sent
    ids because it holds at most ID_THRESHOLD here, so nearly all of ours are news to it.)"""
    chunk = min(MAX_IDS, (room - 2 * _FP_ENTRY) // ID_LEN)
    if chunk < 1:
        return []
    fit = (room - _FP_ENTRY) // (chunk * ID_LEN + _FP_ENTRY)
    bounds = [lo, *items.split(lo, hi, -(-count // chunk)), hi]
    head = bounds if fit >= len(bounds) - 1 else bounds[: fit + 1]
    out = [Range(a, b, Mode.IDS, b"".join(_ids(items, a, b))) for a, b in pairwise(head)]
    if head[-1] != hi:
        out.append(Range(head[-1], hi, Mode.FINGERPRINT, items.fingerprint(head[-1], hi)[1]))
    return out


# ----- initiator


class Initiator:
    """One reconciliation session seen from the side that starts it.

    ``have``: ids the peer has and we lack (to fetch); ``need``: ids we have and the peer lacks
    (to send). Both stay readable after a ``ReconcileError``: what was learnt until then holds.
    """

    def __init__(self, items: ItemSet, limits: Limits = DEFAULT_LIMITS) -> None:
        self.items = items
        self.limits = limits
        self.have: set[bytes] = set()
        self.need: set[bytes] = set()
        self.rounds = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._pending: deque[tuple[Bound, Bound, int]] = deque()  # mismatched: lo, hi, our count
        self._sent: list[Range] = []  # non-skip ranges of the request in flight
        self._state = "new"

    @property
    def done(self) -> bool:
        return self._state == "done"

    def start(self) -> bytes:
        """The first request: fingerprints of ranges that shrink toward the newest items, so
        that equal sets settle at once and recent differences are found in few rounds."""
        if self._state != "new":
            raise ReconcileError("start() called twice")
        cuts, lo, n = [MIN_BOUND], MIN_BOUND, len(self.items)
        while n > START_TAIL:
            parts = self.items.split(lo, MAX_BOUND, START_RATIO)
            if not parts:
                break
            lo = parts[-1]
            cuts.append(lo)
            n = self.items.fingerprint(lo, MAX_BOUND)[0]
        first = []
        for a, b in pairwise([*cuts, MAX_BOUND]):
            count, fp = self.items.fingerprint(a, b)
            first.append(Range(a, b, Mode.FINGERPRINT, fp) if count else Range(a, b, Mode.IDS))
        self._state = "wait"
        return self._send(first)

    def receive(self, reply: bytes) -> bytes | None:
        """Take the responder's reply; return the next request, or None when reconciled."""
        if self._state != "wait":
            raise ReconcileError(f"receive() while the session is {self._state}")
        try:
            self.bytes_received += len(reply)
            self._check_total()
            self.rounds += 1
            self._absorb(decode_message(reply, REPLY_MODES, self.limits))
            if not self._pending:
                self._state = "done"
                return None
            if self.rounds >= self.limits.max_rounds:
                raise ReconcileError(f"not reconciled within {self.limits.max_rounds} rounds")
            return self._send(self._batch())
        except Rejected:
            self._state = "failed"
            raise

    def _check_total(self) -> None:
        if self.bytes_sent + self.bytes_received > self.limits.max_total_bytes:
            raise ReconcileError(f"more than {self.limits.max_total_bytes} bytes in one session")

    def _absorb(self, ranges: list[Range]) -> None:
        """Check that every answer lies inside a range we asked about, then act on it."""
        sent, j = self._sent, 0
        for r in ranges:
            if r.mode == Mode.SKIP:
                continue
            while j < len(sent) and sent[j].hi <= r.lo:
                j += 1
            if j == len(sent) or r.lo < sent[j].lo or sent[j].hi < r.hi:
                raise ReconcileError("an answer for a range that was not asked about")
            if r.mode == Mode.FINGERPRINT:
                count, fp = self.items.fingerprint(r.lo, r.hi)
                if fp != r.payload:
                    self._pending.append((r.lo, r.hi, count))
                    if len(self._pending) > self.limits.max_pending:
                        raise ReconcileError(f"more than {self.limits.max_pending} ranges pending")
            elif r.mode == Mode.IDS:
                theirs = set(unpack_ids(r.payload))
                mine = set(_ids(self.items, r.lo, r.hi))
                self.have |= theirs - mine
                self.need |= mine - theirs
            else:
                self._absorb_diff(r, sent[j])

    def _absorb_diff(self, r: Range, asked: Range) -> None:
        if asked.mode != Mode.IDS or (asked.lo, asked.hi) != (r.lo, r.hi):
            raise ReconcileError("a diff for a range not sent as ids")
        ours = unpack_ids(asked.payload)
        width = (len(ours) + 7) // 8
        bitmap, extra = r.payload[:width], unpack_ids(r.payload[width:])
        if len(bitmap) < width or (len(ours) % 8 and bitmap[-1] >> (len(ours) % 8)):
            raise ReconcileError("a diff bitmap of the wrong size")
        lacking = {id_ for i, id_ in enumerate(ours) if bitmap[i // 8] >> (i % 8) & 1}
        if not set(extra).isdisjoint(ours):
            raise ReconcileError("a diff claims ids we sent as ours")
        self.need |= lacking
        self.have.update(extra)

    def _batch(self) -> list[Range]:
        """Resolve pending mismatches into ranges to send, within the batch and byte limits.

        A request also keeps the responder's reserve (a one-range answer to each range) under
        half a message, so its first range always has room for a full answer."""
        batch: list[Range] = []
        limit = self.limits.max_message_bytes
        size = reserve = 16 + _SKIP_ENTRY
        while self._pending:
            lo, hi, count = self._pending[0]
            out = _resolve(self.items, lo, hi, count)  # adjacent ranges: one skip before them
            size += sum(map(entry_size, out)) + _SKIP_ENTRY
            reserve += sum(entry_size(_fallback_shape(x)) for x in out) + _SKIP_ENTRY
            if batch and (
                size > limit
                or reserve > limit // 2
                or len(batch) + len(out) > self.limits.batch_ranges
            ):
                break
            self._pending.popleft()
            batch += out
        return batch

    def _send(self, batch: list[Range]) -> bytes:
        """Encode disjoint ranges as a request, with skips over the gaps between them."""
        batch.sort(key=lambda x: x.lo)
        full: list[Range] = []
        lo = MIN_BOUND
        for r in batch:
            if r.lo != lo:
                full.append(Range(lo, r.lo, Mode.SKIP))
            full.append(r)
            lo = r.hi
        if lo != MAX_BOUND:
            full.append(Range(lo, MAX_BOUND, Mode.SKIP))
        self._sent = batch
        message = encode_message(full)
        self.bytes_sent += len(message)
        self._check_total()
        return message
