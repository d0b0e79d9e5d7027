from __future__ import annotations

import asyncio
import time

import pytest

from espace.clock import ManualClock, OffsetClock, ScaledClock, clock_from_spec, parse_instant


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


def test_an_offset_clock_measures_the_controllers_clock_from_the_shortest_round_trip():
    station = ManualClock(1_000.0)
    clock = OffsetClock(station)
    # the controller is 1,200 s behind; a slow answer (round trip 10 s) then a quick one (0.2 s)
    assert clock.sample(1_000.0, 1_010.0, 1_000.0 - 1_200 + 9.0) == -1_196.0
    assert clock.sample(1_020.0, 1_020.2, 1_020.1 - 1_200) == -1_200.0
    station.set(2_000.0)
    assert clock.now() == 800.0
    assert clock.local_now() == 2_000.0
    # a later slow sample does not move it
    assert clock.sample(2_000.0, 2_030.0, 2_000.0 - 1_200 + 25.0) == -1_200.0


def test_an_offset_within_half_a_round_trip_is_none():
    clock = OffsetClock(ManualClock(1_000.0))
    assert clock.sample(1_000.0, 1_004.0, 1_003.5) == 0.0  # the same clock read late in the round trip


def test_a_shifted_scaled_clock_is_the_same_clock_moved():
    truth = ScaledClock(1_000_000.0, 60.0, anchor=0.0)
    assert truth.shifted(-3600).now() - truth.now() == pytest.approx(-3600, abs=1.0)
    assert truth.shifted(1200).spec().split("@")[1] == truth.spec().split("@")[1]  # same anchor and speed
