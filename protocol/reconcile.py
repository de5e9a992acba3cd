"""Range-based set reconciliation in the manner of negentropy, as sans-IO state machines.

The initiator (``Initiator``) holds the session; the responder (``respond``) is a pure function
of its item set and one request, so it can answer plain HTTP POSTs. Every message is one
canonical msgpack value listing ranges that cover the whole key space in order. docs/sync.md
describes the format byte by byte, the algorithm and the limits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

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
BRANCH = 16  # B: a mismatched range is cut into this many sub-ranges
ID_THRESHOLD = 16  # T: a mismatched range with at most T items is sent as its ids
DIFF_CAP = 128  # the responder answers an id list with a diff if it holds at most this many
MAX_IDS = 1024  # ids in one range of any message
START_RATIO = 4  # start(): each range holds about 1/START_RATIO of what is newer than its lo
START_TAIL = 2 * ID_THRESHOLD  # start(): the newest range holds at most about this many
GROUP = 256  # ranges in one msgpack array of a message
_ENTRY_MAX = 9 + 2 + ID_LEN + 1  # delta, prefix, mode: the largest bound and mode of an entry


class Mode(IntEnum):
    SKIP = 0  # nothing (more) to do here
    FINGERPRINT = 1  # payload: fingerprint of the sender's items in the range
    IDS = 2  # payload: all of the sender's ids in the range, ascending
    DIFF = 3  # reply to IDS: bitmap of the ids the responder lacks, then ids it has in addition


REQUEST_MODES = frozenset({Mode.SKIP, Mode.FINGERPRINT, Mode.IDS})
REPLY_MODES = frozenset(Mode)


class ReconcileError(Rejected):
    """A reconciliation message or session that breaks the protocol or its limits."""

    klass = "sync"


@dataclass(frozen=True)
class Limits:
    max_rounds: int = 64  # requests the initiator sends in one session
    max_message_bytes: int = 512 * 1024
    max_total_bytes: int = 32 * 1024 * 1024  # both directions, one session
    max_ranges: int = 4096  # non-skip ranges in one message (bounds the responder's work)
    batch_ranges: int = 1024  # non-skip ranges the initiator puts in one request
    max_pending: int = 65_536  # mismatched ranges the initiator may have waiting


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Range:
    lo: Bound
    hi: Bound
    mode: Mode
    payload: bytes = b""


# ----- wire format

def _entry_size(r: Range) -> int:
    """An upper bound of the bytes of one encoded range (delta taken at its largest)."""
    n = len(r.payload)
    return 9 + 2 + len(r.hi.prefix) + 1 + n + (2 if n < 256 else 3 if n < 65_536 else 5)


def encode_message(ranges: list[Range]) -> bytes:
    """Encode ranges that cover the key space in order; adjacent skips are merged."""
    flat: list[int | bytes] = []
    prev, last_skip = 0, False
    for r in ranges:
        if r.mode == Mode.SKIP and last_skip:
            del flat[-4:]  # the earlier skip grows to this bound
            prev = flat[-4] if False else prev  # noqa: SIM222 - keeps prev of the removed entry
        last_skip = r.mode == Mode.SKIP
        if r.hi == MAX_BOUND:
            delta = -1
        else:
            delta = r.hi.created - prev
        flat += [delta, r.hi.prefix, int(r.mode), r.payload]
        if r.hi != MAX_BOUND:
            prev = r.hi.created
    groups = [flat[i:i + 4 * GROUP] for i in range(0, len(flat), 4 * GROUP)]
    return encode([VERSION, *groups])
