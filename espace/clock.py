"""The one clock every rule and timer reads.

Instants are UTC epoch seconds (``float``) everywhere inside Espace; they become
local time (Europe/Brussels by default) only on screens and in exports.

Three clocks:

* :class:`SystemClock` — real time, for production.
* :class:`ScaledClock` — a virtual instant that runs ``speed`` times faster than
  real time from an anchor; two processes given the same spec agree on "now"
  (the demo and the end-to-end tests run controller and agents this way).
* :class:`ManualClock` — for unit tests: time moves only when the test calls
  :meth:`ManualClock.advance`, and sleepers wake in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import time
from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

CLOCK_ENV = "ESPACE_CLOCK"


class Clock(Protocol):
    @property
    def speed(self) -> float:
        """How many clock seconds pass per real second."""

    def now(self) -> float:
        """The current instant, UTC epoch seconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class SystemClock:
    speed = 1.0

    def now(self) -> float:
        return time.time()

    def spec(self) -> str:
        """What :func:`clock_from_spec` turns back into real time, in another process."""
        return "system"

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Virtual time: ``start`` at real instant ``anchor``, running ``speed`` times faster."""

    def __init__(self, start: float, speed: float = 1.0, anchor: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.start = start
        self.speed = speed
        self.anchor = time.time() if anchor is None else anchor

    def now(self) -> float:
        return self.start + (time.time() - self.anchor) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def spec(self) -> str:
        """A string another process turns back into the same clock (see :func:`clock_from_spec`)."""
        return f"{self.start!r}@{self.anchor!r}x{self.speed!r}"

    def shifted(self, seconds: float) -> ScaledClock:
        """The same virtual clock, ``seconds`` ahead (negative: behind): a wrong clock, for tests."""
        return ScaledClock(self.start + seconds, self.speed, self.anchor)


class OffsetClock:
    """Another clock moved by a measured offset: a station's clock on the controller's timeline.

    The agent reads the controller's clock in the welcome and in heartbeat answers; of the
    recent samples, the one with the shortest round trip is the most trustworthy (the
    controller's reading sits within half a round trip of the midpoint). ``offset`` is
    controller minus station, in this clock's seconds.
    """

    SAMPLES = 8

    def __init__(self, base: Clock, offset: float = 0.0) -> None:
        self.base = base
        self.offset = offset
        self._samples: list[tuple[float, float]] = []  # (round trip, offset), most recent last

    @property
    def speed(self) -> float:  # type: ignore[override]
        return self.base.speed

    def now(self) -> float:
        return self.base.now() + self.offset

    def local_now(self) -> float:
        """The station's own clock, uncorrected (what a round trip is measured with)."""
        return self.base.now()

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)

    def sample(self, sent_local: float, received_local: float, server_time: float) -> float:
        """Take one reading of the controller's clock; returns the offset now applied."""
        rtt = max(0.0, received_local - sent_local)
        self._samples = [*self._samples[-(self.SAMPLES - 1):], (rtt, server_time - (sent_local + received_local) / 2)]
        rtt, offset = min(self._samples)
        # the controller read its clock somewhere within the round trip: an offset smaller than
        # half of it cannot be told from none (two processes on one clock measure exactly 0)
        self.offset = 0.0 if abs(offset) <= rtt / 2 else offset
        return self.offset


class ManualClock:
    """A clock that moves only when told to; for unit tests of rules and timers."""

    speed = 1.0

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._counter), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline passes, in order."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
            # let the woken task run (and maybe sleep again) before going on
            for _ in range(5):
                await asyncio.sleep(0)
        self._now = target
        for _ in range(5):
            await asyncio.sleep(0)

    def set(self, instant: float) -> None:
        self._now = instant


def parse_instant(text: str, tz: tzinfo | None = None) -> float:
    """ISO 8601 (``2026-11-19T09:00``) to epoch seconds; a naive time is read in ``tz``."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz or ZoneInfo("Europe/Brussels"))
    return dt.timestamp()


def clock_from_spec(spec: str | None, tz: tzinfo | None = None) -> Clock:
    """Build a clock from a spec string.

    ``""`` or ``None`` or ``"system"``: real time. ``"2026-11-19T09:00x60"``: a
    virtual clock starting now at that local instant, 60 times faster.
    ``"<start>@<anchor>x<speed>"`` (epoch floats, as :meth:`ScaledClock.spec`
    writes): the very same virtual clock as another process.
    """
    if not spec or spec == "system":
        return SystemClock()
    body, _, speed_text = spec.rpartition("x")
    if not body:
        body, speed_text = speed_text, "1"
    try:
        speed = float(speed_text)
    except ValueError as exc:
        raise ValueError(f"bad clock spec {spec!r}: speed {speed_text!r} is not a number") from exc
    start_text, _, anchor_text = body.partition("@")
    try:
        start = float(start_text)
    except ValueError:
        start = parse_instant(start_text, tz)
    anchor = float(anchor_text) if anchor_text else None
    return ScaledClock(start, speed, anchor)


def clock_from_env(tz: tzinfo | None = None) -> Clock:
    return clock_from_spec(os.environ.get(CLOCK_ENV), tz)


def local(ts: float, tz: tzinfo) -> datetime:
    """An instant as an aware local datetime, for screens and exports."""
    return datetime.fromtimestamp(ts, tz)
