"""How much of what the space offers is used: occupancy against capacity, and the sessions' languages.

- :func:`occupancy_rates`: per kind of station and local (weekday, hour), the share of the
  station-hours on offer that sessions used: busy station-minutes / (stations of that kind x
  the minutes that weekday-hour was open over the period, from the site's opening hours and
  their dated exceptions: a public holiday offers nothing, a Thursday open until 19:00 offers
  two more hours). An hour the space was never open in the period has no rate (``None``, shown
  as closed), never a misleading 0 %.
- :func:`language_split`: sessions per language chosen on the station (fr, nl, en).

Sessions are the measure of use: visitors are not identified, so one person coming twice is
two sessions, and no figure here counts people.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from controller.reports.aggregate import KINDS, occupancy_of
from controller.reports.figures import fetch_intervals
from controller.reports.timebuckets import utc_bounds
from controller.rules.hours import OpeningHours


@dataclass(frozen=True, slots=True)
class Rates:
    """``rate[weekday][hour]`` in 0..1 (Monday = 0) for ``stations`` stations of ``kind``;
    ``None`` for an hour the space was never open in the period."""

    kind: str
    stations: int
    rate: tuple[tuple[float | None, ...], ...]

    def busiest(self) -> tuple[int, int, float]:
        """``(weekday, hour, rate)`` of the fullest open hour of the week (0 % at Monday 0h if none was open)."""
        cells = [(d, h, r) for d, row in enumerate(self.rate) for h, r in enumerate(row) if r is not None]
        return max(cells, key=lambda x: x[2]) if cells else (0, 0, 0.0)


def station_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Stations per kind, as enrolled in the store."""
    found = dict(conn.execute("SELECT kind, COUNT(*) FROM stations GROUP BY kind").fetchall())
    return {k: int(found.get(k, 0)) for k in KINDS}


def open_minutes(hours: OpeningHours | None, from_date: date, to_date: date) -> list[list[float]]:
    """``minutes[weekday][hour]``: how long the space was open in that local hour, summed over
    the period's dates (``hours=None``: open round the clock)."""
    minutes = [[0.0] * 24 for _ in range(7)]
    day = from_date
    while day <= to_date:
        ranges = [(0, 24 * 60)] if hours is None else [
            (a.hour * 60 + a.minute, b.hour * 60 + b.minute + (1 if (b.hour, b.minute) == (23, 59) else 0))
            for a, b in hours.ranges_on(day)
        ]  # fmt: skip
        for a, b in ranges:
            for h in range(a // 60, min(24, (b + 59) // 60)):
                minutes[day.weekday()][h] += max(0, min(b, (h + 1) * 60) - max(a, h * 60))
        day += timedelta(days=1)
    return minutes


def occupancy_rates(
    conn: sqlite3.Connection,
    from_date: date,
    to_date: date,
    tz: tzinfo,
    kinds: tuple[str, ...] = KINDS,
    hours: OpeningHours | None = None,
) -> list[Rates]:
    """Occupancy against capacity; ``hours``: the site's opening hours (None: every hour counts)."""
    lo, hi = utc_bounds(from_date, to_date, tz)
    capacity = open_minutes(hours, from_date, to_date)
    stations = station_counts(conn)
    out = []
    for kind in kinds:
        occ = occupancy_of(fetch_intervals(conn, lo, hi, kind), from_date, to_date, tz)
        n = stations.get(kind, 0)
        rate = tuple(
            tuple(
                (min(1.0, m / (n * capacity[d][h])) if n else 0.0) if capacity[d][h] else None
                for h, m in enumerate(row)
            )
            for d, row in enumerate(occ.minutes)
        )
        out.append(Rates(kind, n, rate))
    return out


def language_split(
    conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None
) -> list[tuple[str, int]]:
    """``(lang, sessions)`` of sessions started in ``[lo, hi)``, most used first."""
    sql = "SELECT lang, COUNT(*) FROM sessions WHERE start >= ? AND start < ?"
    args: list[object] = [lo, hi]
    if kind is not None:
        sql += " AND station_kind = ?"
        args.append(kind)
    rows = conn.execute(sql + " GROUP BY lang ORDER BY 2 DESC, 1", args).fetchall()
    return [(str(lang), int(n)) for lang, n in rows]
