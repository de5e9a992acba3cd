"""Storage quotas: byte budgets over a window, so that one client cannot fill the disk.

Each record that passes validation is charged (its wire bytes) before it is stored, against

* the client that sent it: the node key of a peer this node knows (pinned or learned) for
  signed requests and anti-entropy, else the client address (``quota_bytes_per_peer`` /
  ``quota_bytes_per_client``): a stranger gets no budget of its own by signing;
* its author (``quota_bytes_per_author``), and, for kinds no view of this node reads, a
  tighter per-author budget (``quota_bytes_unknown_kind``).

Past a budget the record is refused with class ``quota`` (429 with ``Retry-After`` for a
single record) until the window (``quota_window`` seconds, fixed from the first charge) ends;
a refused record spends none of the budgets.
The node's own organisation and records published locally are not charged. The tables are
bounded: at most ``MAX_TRACKED`` keys each, the oldest window dropped first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

from node.limits import Limits
from protocol import Record, Rejected, kinds

MAX_TRACKED = 50_000


class QuotaExceeded(Rejected):
    klass = "quota"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class _Budgets:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.spent: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (start, bytes)

    def wait(self, key: str, size: int, now: float) -> float:
        """0 when ``size`` more fits the budget of ``key``, else seconds until its window ends."""
        if self.limit <= 0:
            return 0.0
        start, used = self.spent.get(key, (now, 0))
        if now - start >= self.window:
            return 0.0 if size <= self.limit else max(1.0, self.window)
        if used + size > self.limit:
            return max(1.0, start + self.window - now)
        return 0.0

    def charge(self, key: str, size: int, now: float) -> None:
        """Spend ``size`` of the budget of ``key`` (``wait`` said it fits)."""
        if self.limit <= 0:
            return
        start, used = self.spent.get(key, (now, 0))
        if now - start >= self.window:
            start, used = now, 0
        self.spent[key] = (start, used + size)
        self.spent.move_to_end(key)
        while len(self.spent) > MAX_TRACKED:
            self.spent.popitem(last=False)


class StorageQuotas:
    def __init__(self, limits: Limits, monotonic: Callable[[], float], own: bytes) -> None:
        window = limits.quota_window
        self.monotonic = monotonic
        self.own = own
        self.by_client = _Budgets(limits.quota_bytes_per_client, window)
        self.by_peer = _Budgets(limits.quota_bytes_per_peer, window)
        self.by_author = _Budgets(limits.quota_bytes_per_author, window)
        self.unknown_by_author = _Budgets(limits.quota_bytes_unknown_kind, window)
        self.refused = 0
        # whether a node key is a peer this node knows (the node sets its peer directory's)
        self.known: Callable[[bytes], bool] = lambda key: False

    def refusal(self, record: Record, peer: bytes | None, client: str | None) -> Rejected | None:
        """Charge ``record``; a ``QuotaExceeded`` when a budget it falls under is spent."""
        if record.author == self.own or (peer is None and client is None):
            return None
        now = self.monotonic()
        size = len(record.wire)
        author = record.author.hex()
        # a signer this node does not know as a peer gets no budget of its own: signing with
        # fresh keys must not dodge the budget of the address the records come from
        by_peer = peer is not None and (client is None or self.known(peer))
        checks = [
            (self.by_peer, peer.hex(), "peer")
            if by_peer and peer is not None
            else (self.by_client, client or "", "client address"),
            (self.by_author, author, "author"),
        ]
        if record.kind not in kinds.KINDS:
            checks.append((self.unknown_by_author, author, f"author's {record.kind} records"))
        for budgets, key, what in checks:
            wait = budgets.wait(key, size, now)
            if wait > 0:
                self.refused += 1
                return QuotaExceeded(
                    f"storage quota of this {what} spent ({budgets.limit} bytes per"
                    f" {budgets.window:g} s); retry in {math.ceil(wait)} s",
                    wait,
                )
        # charged only once every budget has room: a refused record spends none of them
        for budgets, key, _ in checks:
            budgets.charge(key, size, now)
        return None
