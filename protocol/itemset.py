"""Sets of ``(created, id)`` items for reconciliation, and a compact in-memory implementation.

Items are ordered by ``created`` (integer ms, ``0 <= created < 2**53``) and then by the 32 id
bytes. Positions in that order are named by a ``Bound``: ``(created, prefix)``, where ``prefix``
is the start of an id, read as if padded with zero bytes to 32. A ``Bound`` is a plain tuple, so
``item < bound`` is Python's tuple order, which is exactly the padded order (a shorter byte
string sorts first); a prefix never ends in a zero byte, so each position has one ``Bound``. In
SQL the same test is ``(created, id) < (:created, :prefix)`` on a BLOB column.
"""

from __future__ import annotations

import hashlib
import sys
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from heapq import merge
from typing import NamedTuple, Protocol

ID_LEN = 32
KEY_LEN = 8 + ID_LEN  # created as 8 bytes big-endian, then the id
MAX_CREATED = 2**53  # created lies in [0, MAX_CREATED)
FINGERPRINT_LEN = 16
BLOCK_KEYS = 1024  # keys in one full block of MemoryItemSet

Item = tuple[int, bytes]


class Bound(NamedTuple):
    """A position in the item order: every item below it sorts before every item at or above."""

    created: int
    prefix: bytes = b""


MIN_BOUND = Bound(0, b"")
MAX_BOUND = Bound(MAX_CREATED, b"")  # above every item; on the wire it is a mark of its own


class ItemSet(Protocol):
    """What reconciliation reads from a node's set; ranges are half-open, ``[lo, hi)``."""

    def __len__(self) -> int: ...

    def fingerprint(self, lo: Bound, hi: Bound) -> tuple[int, bytes]:
        """Count of the items in ``[lo, hi)`` and their ``fingerprint_of`` value."""
        ...

    def items(self, lo: Bound, hi: Bound) -> list[Item]:
        """The items in ``[lo, hi)`` in order."""
        ...

    def split(self, lo: Bound, hi: Bound, parts: int) -> list[Bound]:
        """At most ``parts - 1`` increasing bounds strictly inside ``(lo, hi)`` that cut the
        items of ``[lo, hi)`` into non-empty parts of nearly equal count; each bound is the
        shortest one between the last item of a part and the first of the next
        (``between``)."""
        ...


def varint(n: int) -> bytes:
    """Negentropy's variable-length integer: base 128, most significant group first."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def id_sum(ids: Iterable[bytes]) -> int:
    """Sum of the ids as little-endian 256-bit integers (not yet reduced mod 2**256)."""
    return sum(int.from_bytes(i, "little") for i in ids)


def fingerprint_of(count: int, total: int) -> bytes:
    """SHA-256 of (sum mod 2**256 as 32 bytes little-endian || varint count), first 16 bytes.

    The same function as negentropy v1, so the numbers can be checked against it.
    """
    digest = hashlib.sha256((total % 2**256).to_bytes(32, "little") + varint(count)).digest()
    return digest[:FINGERPRINT_LEN]


def between(a: Item, b: Item) -> Bound:
    """The shortest bound ``x`` with ``a < x <= b`` (requires ``a < b``)."""
    if a[0] != b[0]:
        return Bound(b[0], b"")
    shared = 0
    while a[1][shared] == b[1][shared]:
        shared += 1
    return Bound(b[0], b[1][: shared + 1])  # b's byte there is above a's, so never zero


def check_item(created: int, id_: bytes) -> None:
    """Raise ``ValueError`` unless ``(created, id_)`` is a valid item."""
    if type(created) is not int or not 0 <= created < MAX_CREATED:
        raise ValueError(f"created {created!r} is not an integer in [0, 2^53)")
    if not isinstance(id_, bytes) or len(id_) != ID_LEN:
        raise ValueError("an id is 32 bytes")


def _key(created: int, id_: bytes) -> bytes:
    check_item(created, id_)
    return created.to_bytes(8, "big") + id_


def _bound_key(b: Bound) -> bytes:
    return b.created.to_bytes(8, "big") + b.prefix


def _item(key: bytes) -> Item:
    return int.from_bytes(key[:8], "big"), key[8:]


def _first(block: bytes) -> bytes:
    return block[:KEY_LEN]


_FAST_SUM = sys.byteorder == "little"


def _block_sum(block: bytes, a: int, b: int) -> int:
    """Sum of the ids of keys ``a..b-1`` of a block."""
    if a >= b:
        return 0
    if _FAST_SUM:  # a key is five 64-bit words: created, then the id's four little-endian limbs
        words = memoryview(block).cast("Q")
        s, e = 5 * a, 5 * b
        return (
            sum(words[s + 1 : e : 5])
            + (sum(words[s + 2 : e : 5]) << 64)
            + (sum(words[s + 3 : e : 5]) << 128)
            + (sum(words[s + 4 : e : 5]) << 192)
        )
    return sum(
        int.from_bytes(block[o + 8 : o + KEY_LEN], "little")
        for o in range(a * KEY_LEN, b * KEY_LEN, KEY_LEN)
    )


class MemoryItemSet:
    """Items as sorted 40-byte keys packed into ``bytes`` blocks of at most ``BLOCK_KEYS``.

    About 41 bytes an item. Each block caches its id sum; prefix counts and prefix sums over
    the blocks are rebuilt lazily after inserts, so a fingerprint costs O(log blocks) plus two
    partial blocks, and ``add`` copies one block.
    """

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._blocks: list[bytes] = []
        self._sums: list[int] = []
        self._cum: list[int] = [0]  # _cum[i]: keys in blocks before i
        self._psum: list[int] = [0]  # _psum[i]: id sum of blocks before i
        self._dirty = 0  # _cum and _psum are valid up to index _dirty
        self._len = 0
        self._build(items)

    # ----- building and adding
    def _build(self, items: Iterable[Item]) -> None:
        """Stream sorted input straight into blocks; sort and merge whatever comes unsorted."""
        chunk, rest, last = bytearray(), [], b""
        for created, id_ in items:
            key = _key(created, id_)
            if key > last:
                chunk += key
                last = key
                if len(chunk) == BLOCK_KEYS * KEY_LEN:
                    self._append_block(bytes(chunk))
                    chunk = bytearray()
            elif key != last:
                rest.append(key)
        if chunk:
            self._append_block(bytes(chunk))
        if rest:
            rest.sort()
            old, self._blocks, self._sums, self._len = self._blocks, [], [], 0
            olds = (blk[o : o + KEY_LEN] for blk in old for o in range(0, len(blk), KEY_LEN))
            self._build(_item(k) for k in merge(olds, rest))
        self._dirty = 0

    def _append_block(self, block: bytes) -> None:
        self._blocks.append(block)
        self._sums.append(_block_sum(block, 0, len(block) // KEY_LEN))
        self._len += len(block) // KEY_LEN

    def add(self, created: int, id_: bytes) -> bool:
        """Insert an item; False when it was already present."""
        key = _key(created, id_)
        if not self._blocks:
            self._append_block(key)
            self._dirty = 0
            return True
        i = max(bisect_right(self._blocks, key, key=_first) - 1, 0)
        block = self._blocks[i]
        off = _search(block, key)
        if block[off * KEY_LEN : (off + 1) * KEY_LEN] == key:
            return False
        block = block[: off * KEY_LEN] + key + block[off * KEY_LEN :]
        total = self._sums[i] + int.from_bytes(id_, "little")
        n = len(block) // KEY_LEN
        if n > BLOCK_KEYS:
            half = n // 2
            low = _block_sum(block, 0, half)
            self._blocks[i : i + 1] = [block[: half * KEY_LEN], block[half * KEY_LEN :]]
            self._sums[i : i + 1] = [low, total - low]
        else:
            self._blocks[i], self._sums[i] = block, total
        self._len += 1
        self._dirty = min(self._dirty, i)
        return True

    def remove(self, created: int, id_: bytes) -> bool:
        """Take an item out; False when it was not present. An emptied block is dropped."""
        if not self._blocks:
            return False
        key = _key(created, id_)
        i = max(bisect_right(self._blocks, key, key=_first) - 1, 0)
        block = self._blocks[i]
        off = _search(block, key)
        if block[off * KEY_LEN : (off + 1) * KEY_LEN] != key:
            return False
        block = block[: off * KEY_LEN] + block[(off + 1) * KEY_LEN :]
        if block:
            self._blocks[i] = block
            self._sums[i] -= int.from_bytes(id_, "little")
        else:
            del self._blocks[i], self._sums[i]
        self._len -= 1
        self._dirty = min(self._dirty, i)
        return True

    # ----- positions
    def _index(self) -> None:
        """Bring prefix counts and sums up to date from the first changed block on."""
        n = len(self._blocks)
        if self._dirty >= n and len(self._cum) == n + 1:
            return
        i = min(self._dirty, n)
        cum, psum = self._cum[: i + 1], self._psum[: i + 1]
        for j in range(i, n):
            cum.append(cum[j] + len(self._blocks[j]) // KEY_LEN)
            psum.append(psum[j] + self._sums[j])
        self._cum, self._psum, self._dirty = cum, psum, n

    def _rank(self, bound: Bound) -> int:
        """Number of items below ``bound``."""
        if bound >= MAX_BOUND:
            return self._len
        key = _bound_key(bound)
        i = bisect_right(self._blocks, key, key=_first) - 1
        if i < 0:
            return 0
        return self._cum[i] + _search(self._blocks[i], key)

    def _locate(self, rank: int) -> tuple[int, int]:
        """Block and offset of the item at ``rank`` (``0 <= rank < len``)."""
        i = bisect_right(self._cum, rank) - 1
        return i, rank - self._cum[i]

    def _key_at(self, rank: int) -> bytes:
        i, off = self._locate(rank)
        return self._blocks[i][off * KEY_LEN : (off + 1) * KEY_LEN]

    def _sum(self, r0: int, r1: int) -> int:
        if r0 >= r1:
            return 0
        i, a = self._locate(r0)
        j, b = self._locate(r1 - 1)
        if i == j:
            return self._partial(i, a, b + 1)
        n_i = len(self._blocks[i]) // KEY_LEN
        return (
            self._partial(i, a, n_i)
            + self._psum[j]
            - self._psum[i + 1]
            + self._partial(j, 0, b + 1)
        )

    def _partial(self, i: int, a: int, b: int) -> int:
        """Id sum of keys ``a..b-1`` of block ``i``, adding up the smaller side."""
        block, n = self._blocks[i], len(self._blocks[i]) // KEY_LEN
        if 2 * (b - a) <= n:
            return _block_sum(block, a, b)
        return self._sums[i] - _block_sum(block, 0, a) - _block_sum(block, b, n)

    # ----- the ItemSet protocol
    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Item]:
        for block in self._blocks:
            for o in range(0, len(block), KEY_LEN):
                yield _item(block[o : o + KEY_LEN])

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        try:
            key = _key(*item)
        except (TypeError, ValueError):
            return False
        i = bisect_right(self._blocks, key, key=_first) - 1
        if i < 0:
            return False
        off = _search(self._blocks[i], key)
        return self._blocks[i][off * KEY_LEN : (off + 1) * KEY_LEN] == key

    def fingerprint(self, lo: Bound, hi: Bound) -> tuple[int, bytes]:
        self._index()
        r0, r1 = self._rank(lo), self._rank(hi)
        count = max(r1 - r0, 0)
        return count, fingerprint_of(count, self._sum(r0, r1))

    def items(self, lo: Bound, hi: Bound) -> list[Item]:
        self._index()
        r0, r1 = self._rank(lo), self._rank(hi)
        out: list[Item] = []
        while r0 < r1:
            i, off = self._locate(r0)
            block = self._blocks[i]
            end = min(len(block) // KEY_LEN, off + r1 - r0)
            out.extend(
                _item(block[o : o + KEY_LEN]) for o in range(off * KEY_LEN, end * KEY_LEN, KEY_LEN)
            )
            r0 += end - off
        return out

    def split(self, lo: Bound, hi: Bound, parts: int) -> list[Bound]:
        self._index()
        r0, r1 = self._rank(lo), self._rank(hi)
        n = r1 - r0
        if parts < 2 or n < 2:
            return []
        cuts = sorted({r0 + n * k // parts for k in range(1, parts)} - {r0})
        return [between(_item(self._key_at(c - 1)), _item(self._key_at(c))) for c in cuts]


def _search(block: bytes, key: bytes) -> int:
    """Offset of the first key in ``block`` that is ``>= key``."""
    lo, hi = 0, len(block) // KEY_LEN
    while lo < hi:
        mid = (lo + hi) // 2
        if block[mid * KEY_LEN : (mid + 1) * KEY_LEN] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo
