"""Reconnect delays: growing, capped, jittered."""

from __future__ import annotations

import random

from espace.backoff import backoff_delay


def test_backoff_grows_caps_and_jitters():
    rng = random.Random(1)
    delays = [backoff_delay(a, base=0.5, cap=30, rng=rng) for a in range(12)]
    assert all(0 <= d <= min(30, 0.5 * 2**a) for a, d in enumerate(delays))
    spread = {round(backoff_delay(8, rng=rng), 3) for _ in range(50)}
    assert len(spread) > 40  # 61 stations do not all knock at the same millisecond


def test_a_floor_keeps_every_delay_above_it():
    rng = random.Random(2)
    delays = [backoff_delay(a, base=0.2, cap=5.0, floor=0.1, rng=rng) for a in range(40)]
    assert min(delays) >= 0.1
    assert max(delays) <= 5.0
