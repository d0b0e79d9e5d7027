from __future__ import annotations

import asyncio
import time

from espace.clock import ManualClock, ScaledClock, clock_from_spec, parse_instant


def test_a_scaled_clock_spec_gives_the_same_clock_in_another_process():
    a = ScaledClock(parse_instant("2026-11-19T09:00"), 60)
    b = clock_from_spec(a.spec())
    assert abs(a.now() - b.now()) < 1.0
    assert b.speed == 60


def test_clock_spec_forms():
    c = clock_from_spec("2026-11-19T09:00x120")
    assert abs(c.now() - parse_instant("2026-11-19T09:00")) < 120
    assert clock_from_spec(None).speed == 1.0
    assert abs(clock_from_spec("system").now() - time.time()) < 5


async def test_manual_clock_wakes_sleepers_in_order():
    clock = ManualClock(100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper("b", 20)), asyncio.create_task(sleeper("a", 10))]
    await asyncio.sleep(0)
    await clock.advance(15)
    assert woke == [("a", 110.0)]
    await clock.advance(10)
    assert woke == [("a", 110.0), ("b", 120.0)]
    assert clock.now() == 125.0
    await asyncio.gather(*tasks)
