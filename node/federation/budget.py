"""What one peer may make this node do for its anti-entropy sessions, per interval.

A full session is at most ``max_rounds`` reconciliation rounds (the initiator's own cap) and
moves at most ``MAX_TRANSFER`` records: that is what each peer (its node key, or the client
address of an unsigned request) may spend per ``anti_entropy_interval``. A peer asking again
and again gets 429 with ``Retry-After`` until its window ends, so anti-entropy cannot be turned
into an amplifier.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from node.federation.antientropy import MAX_TRANSFER

SESSION_ROUNDS = 64  # the initiator's round cap (protocol's default reconcile limits)
SESSION_FETCHES = MAX_TRANSFER
MAX_TRACKED = 10_000  # peers (keys or addresses) tracked at once; the oldest window goes first


@dataclass
class Spent:
    since: float
    rounds: int = 0
    fetched: int = 0


class OverBudget(Exception):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class SessionBudget:
    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self.spent: OrderedDict[bytes | str, Spent] = OrderedDict()
        self.max_tracked = max_tracked
        self.refused = 0

    def _window(self, who: bytes | str, now: float, interval: float) -> Spent:
        spent = self.spent.get(who)
        if spent is None or now >= spent.since + interval:
            self.spent.pop(who, None)
            spent = self.spent[who] = Spent(now)
            while len(self.spent) > self.max_tracked:
                self.spent.popitem(last=False)
        return spent

    def charge(
        self, who: bytes | str, now: float, interval: float, rounds: int = 0, ids: int = 0
    ) -> None:
        """Spend ``rounds`` sync rounds and ``ids`` fetched ids of ``who``'s window; raises
        ``OverBudget`` (nothing spent) past one full session's worth."""
        spent = self._window(who, now, interval)
        if spent.rounds + rounds > SESSION_ROUNDS or spent.fetched + ids > SESSION_FETCHES:
            self.refused += 1
            wait = max(1, math.ceil(spent.since + interval - now))
            raise OverBudget(
                f"one full anti-entropy session per peer per {interval:g} s "
                f"({SESSION_ROUNDS} rounds, {SESSION_FETCHES} fetched records): "
                f"try again in {wait} s",
                wait,
            )
        spent.rounds += rounds
        spent.fetched += ids

    def refund(self, who: bytes | str, rounds: int = 0, ids: int = 0) -> None:
        """Give back what a request spent when it was refused before any work (a malformed
        message costs its decoding only, which the rate limits bound)."""
        spent = self.spent.get(who)
        if spent is not None:
            spent.rounds = max(0, spent.rounds - rounds)
            spent.fetched = max(0, spent.fetched - ids)
