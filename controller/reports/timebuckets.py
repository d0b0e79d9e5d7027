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


class DayIndex:
    """Maps UTC instants to the local date they fall on, by bisecting local midnights."""

    def __init__(self, from_date: date, to_date: date, tz: tzinfo) -> None:
        self.dates: list[date] = list(days(from_date, to_date))
        self.edges: list[float] = [local_midnight(d, tz) for d in self.dates]
        self.edges.append(local_midnight(to_date + timedelta(days=1), tz))

    def index_of(self, instant: float) -> int | None:
        """Position of the local date holding ``instant``, None outside the range."""
        if instant < self.edges[0] or instant >= self.edges[-1]:
            return None
        return bisect.bisect_right(self.edges, instant) - 1

    def date_of(self, instant: float) -> date | None:
        i = self.index_of(instant)
        return None if i is None else self.dates[i]


class HourIndex:
    """Local hour starts within ``[lo, hi)`` as UTC instants, each with its (weekday, hour).

    Walks real instants: from each edge, the next one is where the local clock
    next shows ``:00``. Across a spring-forward the local 02:00 hour never
    starts; across a fall-back the 02:00 hour starts twice.
    """

    def __init__(self, lo: float, hi: float, tz: tzinfo) -> None:
        self.edges: list[int] = []
        self.labels: list[tuple[int, int]] = []
        t = int(lo)
        end = int(hi)
        while t < end:
            local = datetime.fromtimestamp(t, tz)
            self.edges.append(t)
            self.labels.append((local.weekday(), local.hour))
            t = t - (local.minute * 60 + local.second) + 3600
        self.edges.append(end)

    def label_of(self, instant: float) -> tuple[int, int]:
        """(weekday, hour) of the local hour holding ``instant``, which must be in range."""
        return self.labels[bisect.bisect_right(self.edges, instant) - 1]

    def split(self, start: float, end: float) -> Iterator[tuple[tuple[int, int], float]]:
        """``((weekday, hour), seconds)`` for each local hour that ``[start, end)`` covers,
        clipped to the index's range."""
        start = max(start, self.edges[0])
        end = min(end, self.edges[-1])
        if end <= start:
            return
        i = bisect.bisect_right(self.edges, start) - 1
        while start < end:
            edge = self.edges[i + 1]
            stop = end if end < edge else edge
            yield self.labels[i], stop - start
            start = stop
            i += 1
