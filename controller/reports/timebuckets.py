"""Local-time buckets over UTC instants: days, weeks, months, hours of the week.

Instants in the store are UTC epoch seconds; the back office counts in local
time (Europe/Brussels by default). Every bucket edge here is a real instant
computed through the zone database, so a day is 23 or 25 hours long on a
daylight-saving change and an hour that does not exist locally gets nothing.
Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Europe/Brussels"
GRANULARITIES = ("day", "week", "month", "year")


def zone(tz: str | tzinfo | None = None) -> tzinfo:
    """The zone named ``tz`` (default Europe/Brussels); ValueError if unknown."""
    if tz is None:
        return ZoneInfo(DEFAULT_TZ)
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone: {tz!r}") from exc


def as_date(value: date | str, name: str = "date") -> date:
    """A ``date`` from a date or an ISO ``YYYY-MM-DD`` string; ValueError otherwise."""
    if isinstance(value, datetime):
        raise ValueError(f"{name} must be a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{name} is not an ISO date (YYYY-MM-DD): {value!r}") from exc
    raise ValueError(f"{name} must be a date or an ISO string, not {type(value).__name__}")


def date_range(from_date: date | str, to_date: date | str) -> tuple[date, date]:
    """Checked ``(from, to)`` local dates, inclusive; ValueError when reversed."""
    lo, hi = as_date(from_date, "from_date"), as_date(to_date, "to_date")
    if lo > hi:
        raise ValueError(f"from_date {lo.isoformat()} is after to_date {hi.isoformat()}")
    return lo, hi


def local_midnight(day: date, tz: tzinfo) -> float:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def utc_bounds(from_date: date, to_date: date, tz: tzinfo) -> tuple[float, float]:
    """``[lo, hi)`` in UTC epoch seconds covering the local dates, inclusive."""
    return local_midnight(from_date, tz), local_midnight(to_date + timedelta(days=1), tz)


def days(from_date: date, to_date: date) -> Iterator[date]:
    day = from_date
    while day <= to_date:
        yield day
        day += timedelta(days=1)


def period_key(day: date, granularity: str) -> str:
    """The label of the period holding ``day``: 2026-03-29, 2026-W13, 2026-03, 2026."""
    if granularity == "day":
        return day.isoformat()
    if granularity == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if granularity == "month":
        return f"{day.year}-{day.month:02d}"
    if granularity == "year":
        return str(day.year)
    raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


EPOCH = date(1970, 1, 1)
DAY = 86400
HOURS_IN_WEEK = 168
# 1970-01-01 was a Thursday: hour n since the epoch, in wall time, falls in bucket
# (n + 72) % 168 of a week that starts on Monday 00:00.
WEEK_SHIFT = 72


def day_number(day: date) -> int:
    """Days from 1970-01-01 to ``day``: the number ``wall_time // 86400`` gives."""
    return (day - EPOCH).days


def from_day_number(n: int) -> date:
    return EPOCH + timedelta(days=n)


def week_hour(wall: float) -> int:
    """Bucket ``weekday * 24 + hour`` (Monday = 0) of a wall time in seconds."""
    return (int(wall // 3600) + WEEK_SHIFT) % HOURS_IN_WEEK


def _offset(t: float, tz: tzinfo) -> int:
    delta = datetime.fromtimestamp(t, tz).utcoffset()
    return 0 if delta is None else int(delta.total_seconds())


def offset_segments(lo: float, hi: float, tz: tzinfo) -> list[tuple[float, float, int]]:
    """Split ``[lo, hi)`` where the zone's UTC offset changes: ``(start, end, offset)``.

    Steps a day at a time and bisects to the second where the offset differs
    (zones change offset at most once a day).
    """
    segments: list[tuple[float, float, int]] = []
    start, offset, t = lo, _offset(lo, tz), lo
    while t < hi:
        step = min(t + DAY, hi)
        if _offset(step, tz) != offset:
            before, after = int(t), int(step)
            while after - before > 1:
                mid = (before + after) // 2
                if _offset(mid, tz) == offset:
                    before = mid
                else:
                    after = mid
            if after < hi:
                segments.append((start, float(after), offset))
                start, offset = float(after), _offset(after, tz)
            t = float(after)
            continue
        t = step
    segments.append((start, hi, offset))
    return segments


class Wall:
    """Local wall-clock time over ``[lo, hi)``: UTC instant + the offset in force then.

    On wall time, a local day is ``wall // 86400`` and a local hour starts at
    every multiple of 3600, whatever the zone; a spring-forward skips an hour
    of wall time and a fall-back lives one twice, because the offset changes
    at the real instant it changes.
    """

    def __init__(self, lo: float, hi: float, tz: tzinfo) -> None:
        self.lo, self.hi = lo, hi
        self.segments = offset_segments(lo, hi, tz)
        self._starts = [a for a, _, _ in self.segments]

    def wall(self, instant: float) -> float:
        i = max(0, bisect.bisect_right(self._starts, instant) - 1)
        return instant + self.segments[i][2]

    def pieces(self, start: float, end: float) -> Iterator[tuple[float, float]]:
        """``[start, end)`` clipped to the range, as wall-time pieces of constant offset."""
        start, end = max(start, self.lo), min(end, self.hi)
        if end <= start:
            return
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while start < end:
            _, seg_end, offset = self.segments[i]
            stop = end if end < seg_end else seg_end
            yield start + offset, stop + offset
            start = stop
            i += 1
