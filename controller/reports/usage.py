"""How much of what the space offers is used: occupancy against capacity, and the sessions' languages.

- :func:`occupancy_rates`: per kind of station and local (weekday, hour), the share of the
  station-hours on offer that sessions used: busy station-minutes / (stations of that kind x
  60 x the number of times that weekday-hour occurs in the period). Hours when the space is
  closed have no sessions, so they read 0; the page and the annual report show the hours
  something happened.
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


@dataclass(frozen=True, slots=True)
class Rates:
    """``rate[weekday][hour]`` in 0..1 (Monday = 0) for ``stations`` stations of ``kind``."""

    kind: str
    stations: int
    rate: tuple[tuple[float, ...], ...]

    def busiest(self) -> tuple[int, int, float]:
        """``(weekday, hour, rate)`` of the fullest hour of the week."""
        return max(((d, h, r) for d, row in enumerate(self.rate) for h, r in enumerate(row)), key=lambda x: x[2])


def weekday_counts(from_date: date, to_date: date) -> list[int]:
    """How many Mondays, Tuesdays … the local dates hold."""
    n = (to_date - from_date).days + 1
    full, rest = divmod(n, 7)
    counts = [full] * 7
    for i in range(rest):
        counts[(from_date + timedelta(days=full * 7 + i)).weekday()] += 1
    return counts


def station_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Stations per kind, as enrolled in the store."""
    found = dict(conn.execute("SELECT kind, COUNT(*) FROM stations GROUP BY kind").fetchall())
    return {k: int(found.get(k, 0)) for k in KINDS}


def occupancy_rates(
    conn: sqlite3.Connection, from_date: date, to_date: date, tz: tzinfo, kinds: tuple[str, ...] = KINDS
) -> list[Rates]:
    lo, hi = utc_bounds(from_date, to_date, tz)
    per_day = weekday_counts(from_date, to_date)
    stations = station_counts(conn)
    out = []
    for kind in kinds:
        occ = occupancy_of(fetch_intervals(conn, lo, hi, kind), from_date, to_date, tz)
        n = stations.get(kind, 0)
        rate = tuple(
            tuple(min(1.0, m / (60 * n * per_day[d])) if n and per_day[d] else 0.0 for m in row)
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
