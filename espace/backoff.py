"""Exponential backoff with full jitter, for every link that reconnects.

A controller restart drops 61 stations at once (the session UIs lose their agent
service the same way when it restarts); the jitter spreads their retries so they
do not all knock at the same millisecond.
"""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    base: float = 0.5,
    cap: float = 30.0,
    *,
    floor: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry ``attempt`` (0 first): uniform in [floor, min(cap, base * 2**attempt)]."""
    r = rng or random
    return r.uniform(floor, min(cap, base * (2 ** min(attempt, 16))))
