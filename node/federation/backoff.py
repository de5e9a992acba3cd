"""Capped exponential backoff with full jitter (a pure function; the caller brings randomness)."""

from __future__ import annotations

import random

BASE_SECONDS = 1.0


def backoff_delay(
    failures: int, cap: float, rng: random.Random | None = None, base: float = BASE_SECONDS
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: uniform in [0, min(cap, base·2^n)).

    Full jitter spreads retries of many nodes that lost the same peer at the same moment.
    """
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 30))
    return (rng or random).uniform(0, ceiling)
