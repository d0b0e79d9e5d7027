"""Opening hours: when the space is open, in local wall time, read as UTC instants.

A site has weekly hours (weekday 0 = Monday -> open slots in local time) and
exceptions by date (an empty list closes the day: a public holiday; another
list replaces the day's hours: a late opening, a short Christmas Eve). Every
query takes and returns UTC epoch seconds; local time is only used to build
the day's slots, so a day on which the clocks change (last Sunday of March or
October in Brussels) still opens at 9:00 local.

API::

    OpeningHours(weekly, exceptions={}, tz=ZoneInfo("Europe/Brussels"))
    OpeningHours.brussels_default() -> OpeningHours   # Mon-Fri 9-17, Thu 9-19
    parse_hours(config: Mapping, tz=None) -> OpeningHours   # ValueError says what is wrong
    hours.slots_on(day: date) -> list[tuple[float, float]]   # [open, close) epoch pairs
    hours.is_open(ts) -> bool
    hours.closing_after(ts) -> float | None   # end of the open slot containing ts
    hours.next_opening(ts) -> float | None    # first slot start at or after ts
    hours.last_call(ts, minutes) -> float | None   # closing_after(ts) - minutes
    hours.local_date(ts) -> date

Slots are half-open: open at ``start``, closed from ``end`` on. Adjacent slots
(9:00-12:00 and 12:00-17:00) are merged; overlapping ones are an error. A slot
ends on the day it starts (no opening past midnight).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 366  # next_opening gives up after a year of closed days

Range = tuple[time, time]

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _normalise(ranges: Iterable[Range], where: str) -> tuple[Range, ...]:
    """Sort, check and merge one day's ranges."""
    out: list[Range] = []
    for pair in sorted(ranges):
        opens, closes = pair
        if not (isinstance(opens, time) and isinstance(closes, time)):
            raise ValueError(f"{where}: a slot is a pair of datetime.time, got {pair!r}")
        if closes <= opens:
            raise ValueError(f"{where}: slot {opens:%H:%M}-{closes:%H:%M} closes before it opens")
        if out and opens < out[-1][1]:
            raise ValueError(
                f"{where}: slot {opens:%H:%M}-{closes:%H:%M} overlaps "
                f"{out[-1][0]:%H:%M}-{out[-1][1]:%H:%M}"
            )
        if out and opens == out[-1][1]:
            out[-1] = (out[-1][0], closes)
        else:
            out.append((opens, closes))
    return tuple(out)


def _at(day: date, t: time, tz: ZoneInfo) -> float:
    return datetime.combine(day, t, tzinfo=tz).timestamp()


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly hours plus dated exceptions, in the site's time zone."""

    weekly: Mapping[int, Sequence[Range]]
    exceptions: Mapping[date, Sequence[Range]] = field(default_factory=dict)
    tz: ZoneInfo = BRUSSELS

    def __post_init__(self) -> None:
        weekly: dict[int, tuple[Range, ...]] = {}
        for weekday, ranges in self.weekly.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            weekly[weekday] = _normalise(ranges, WEEKDAYS[weekday])
        exceptions = {d: _normalise(r, d.isoformat()) for d, r in self.exceptions.items()}
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "exceptions", exceptions)

    @classmethod
    def brussels_default(cls) -> OpeningHours:
        """Monday to Friday 9:00-17:00, Thursday until 19:00."""
        day = ((time(9), time(17)),)
        return cls({0: day, 1: day, 2: day, 3: ((time(9), time(19)),), 4: day})

    def local_date(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    def ranges_on(self, day: date) -> tuple[Range, ...]:
        """The day's hours in local time (exceptions win over the weekly hours)."""
        if day in self.exceptions:
            return tuple(self.exceptions[day])
        return tuple(self.weekly.get(day.weekday(), ()))

    def slots_on(self, day: date) -> list[tuple[float, float]]:
        """The day's open slots as ``(open, close)`` UTC epoch pairs, in order."""
        return [(_at(day, a, self.tz), _at(day, b, self.tz)) for a, b in self.ranges_on(day)]

    def _slot_at(self, ts: float) -> tuple[float, float] | None:
        for start, end in self.slots_on(self.local_date(ts)):
            if start <= ts < end:
                return start, end
        return None

    def is_open(self, ts: float) -> bool:
        return self._slot_at(ts) is not None

    def closing_after(self, ts: float) -> float | None:
        """When the open slot containing ``ts`` closes; ``None`` when closed at ``ts``."""
        slot = self._slot_at(ts)
        return None if slot is None else slot[1]

    def next_opening(self, ts: float) -> float | None:
        """The first slot start at or after ``ts`` (within a year); ``None`` if none."""
        day = self.local_date(ts)
        for offset in range(LOOKAHEAD_DAYS + 1):
            for start, _ in self.slots_on(day + timedelta(days=offset)):
                if start >= ts:
                    return start
        return None

    def last_call(self, ts: float, minutes: float) -> float | None:
        """When the last-call warning is due for the slot open at ``ts``.

        ``closing_after(ts) - minutes``; ``None`` when closed at ``ts``. The
        warning is due for every station once ``now >= last_call(now, m)``.
        """
        closing = self.closing_after(ts)
        return None if closing is None else closing - minutes * 60


# ---------------------------------------------------------------- configuration


def _parse_time(hh: str, mm: str, text: str, where: str) -> time:
    h, m = int(hh), int(mm)
    if h > 23 or m > 59:
        raise ValueError(f"{where}: {text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
    return time(h, m)


def parse_range(text: object, where: str = "hours") -> Range:
    """``"09:00-17:00"`` -> ``(time(9), time(17))``."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a slot like '09:00-17:00', got {text!r}")
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{where}: expected a slot like '09:00-17:00', got {text!r}")
    opens = _parse_time(match[1], match[2], text, where)
    closes = _parse_time(match[3], match[4], text, where)
    if closes <= opens:
        raise ValueError(f"{where}: slot {text!r} closes before it opens")
    return opens, closes


def _parse_ranges(value: object, where: str) -> list[Range]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list of slots like ['09:00-17:00'], got {value!r}")
    return [parse_range(item, where) for item in value]


def _parse_date(value: object, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date like '2026-12-25', got {value!r}")


def parse_hours(config: Mapping[str, object], tz: ZoneInfo | None = None) -> OpeningHours:
    """Opening hours from a TOML-like mapping.

    ``{"mon": ["09:00-17:00"], ..., "thu": ["09:00-19:00"],
    "closed": ["2026-12-25"], "exceptions": {"2026-12-24": ["09:00-12:00"]},
    "timezone": "Europe/Brussels"}``. A weekday left out is closed. Raises
    :class:`ValueError` naming the key and the bad value.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"opening hours: expected a table, got {config!r}")
    allowed = {*WEEKDAYS, "closed", "exceptions", "timezone"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"opening hours: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"expected weekdays ({', '.join(WEEKDAYS)}), 'closed', 'exceptions' or 'timezone'"
        )
    if "timezone" in config:
        try:
            tz = ZoneInfo(str(config["timezone"]))
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"opening hours: unknown timezone {config['timezone']!r}") from exc
    weekly = {
        i: _parse_ranges(config[name], name) for i, name in enumerate(WEEKDAYS) if name in config
    }
    exceptions: dict[date, list[Range]] = {}
    closed = config.get("closed", [])
    if isinstance(closed, str) or not isinstance(closed, list | tuple):
        raise ValueError(f"closed: expected a list of dates like ['2026-12-25'], got {closed!r}")
    for item in closed:
        exceptions[_parse_date(item, "closed")] = []
    special = config.get("exceptions", {})
    if not isinstance(special, Mapping):
        raise ValueError(
            f"exceptions: expected a table like {{'2026-12-24': ['09:00-12:00']}}, got {special!r}"
        )
    for key, value in special.items():
        day = _parse_date(key, "exceptions")
        if day in exceptions:
            raise ValueError(f"exceptions: {day.isoformat()} is also listed as closed")
        exceptions[day] = _parse_ranges(value, f"exceptions {day.isoformat()}")
    return OpeningHours(weekly, exceptions, tz or BRUSSELS)
