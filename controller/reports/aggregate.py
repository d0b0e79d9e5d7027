"""Report figures as frozen snapshots, and the pure functions that compute them from rows.

No I/O here: ``figures.py`` reads the rows, these functions count them.
Durations are reported in minutes, waiting times in seconds.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any, NamedTuple

from controller.reports.timebuckets import (
    DAY,
    Wall,
    day_number,
    days,
    period_key,
    utc_bounds,
    week_hour,
)
from espace.protocol import END_REASONS, ESCAPES, KINDS  # named once, in the wire protocol

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SessionRow(NamedTuple):
    """One session as the reports see it: no id, nothing about a person."""

    station: str
    kind: str
    start: float
    end: float | None
    end_reason: str | None
    origin: str
    lang: str
    pages_bw: int
    pages_colour: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Count, mean, median and 90th percentile (nearest rank) of some values."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "median": self.median, "p90": self.p90}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q``% at or below it."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stats(values: Iterable[float]) -> Stats:
    ordered = sorted(values)
    if not ordered:
        return Stats(0, None, None, None)
    return Stats(
        len(ordered), statistics.fmean(ordered), statistics.median(ordered), percentile(ordered, 90)
    )


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """Sessions started in a period (local dates, inclusive).

    ``hour_equivalents`` follows the annual report's convention, one session
    counts as 60 minutes, so it equals ``started``; ``hours_used`` is the real
    time used, the sum of the durations of finished sessions. Running
    sessions (no end yet) are counted as started, not in durations.
    """

    started: int
    running: int
    hour_equivalents: int
    hours_used: float
    duration_minutes: Stats
    per_day: tuple[tuple[str, int], ...]
    per_week: tuple[tuple[str, int], ...]
    per_month: tuple[tuple[str, int], ...]
    per_year: tuple[tuple[str, int], ...]
    per_kind: tuple[tuple[str, int], ...]
    per_station: tuple[tuple[str, int], ...]
    end_reasons: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "running": self.running,
            "hour_equivalents": self.hour_equivalents,
            "hours_used": self.hours_used,
            "duration_minutes": self.duration_minutes.as_dict(),
            **{
                name: dict(getattr(self, name))
                for name in (
                    "per_day",
                    "per_week",
                    "per_month",
                    "per_year",
                    "per_kind",
                    "per_station",
                    "end_reasons",
                )
            },
        }


def summarize_sessions(
    rows: Iterable[SessionRow], from_date: date, to_date: date, tz: tzinfo
) -> SessionFigures:
    """Counts per local day/week/month/year (zero-filled), kind, station and end reason."""
    lo, hi = utc_bounds(from_date, to_date, tz)
    wall = Wall(lo, hi, tz)
    first = day_number(from_date)
    per_day_n: Counter[int] = Counter()
    kinds: Counter[str] = Counter({k: 0 for k in KINDS})
    stations: Counter[str] = Counter()
    reasons: Counter[str] = Counter({r: 0 for r in END_REASONS})
    minutes: list[float] = []
    running = 0
    for row in rows:
        if not lo <= row.start < hi:
            continue
        per_day_n[int(wall.wall(row.start) // DAY)] += 1
        kinds[row.kind] += 1
        stations[row.station] += 1
        if row.end is None:
            running += 1
            continue
        minutes.append(max(0.0, row.end - row.start) / 60)
        reasons[row.end_reason or "unknown"] += 1
    return make_session_figures(
        [per_day_n[first + i] for i, _ in enumerate(days(from_date, to_date))],
        from_date,
        running=running,
        minutes=minutes,
        per_kind=kinds,
        per_station=stations,
        end_reasons=reasons,
    )


def make_session_figures(
    per_day: Sequence[int],
    from_date: date,
    *,
    running: int,
    minutes: list[float],
    per_kind: Counter[str],
    per_station: Counter[str],
    end_reasons: Counter[str],
) -> SessionFigures:
    """Assemble the snapshot from counts per local day (from ``from_date`` on) and the rest."""
    dates = list(days(from_date, from_date + timedelta(days=len(per_day) - 1)))
    started = sum(per_day)
    labelled = [(d.isoformat(), n) for d, n in zip(dates, per_day, strict=True)]
    return SessionFigures(
        started=started,
        running=running,
        hour_equivalents=started,
        hours_used=sum(minutes) / 60,
        duration_minutes=stats(minutes),
        per_day=tuple(labelled),
        per_week=_roll_up(dates, labelled, "week"),
        per_month=_roll_up(dates, labelled, "month"),
        per_year=_roll_up(dates, labelled, "year"),
        per_kind=tuple(sorted(per_kind.items())),
        per_station=tuple(sorted(per_station.items())),
        end_reasons=tuple(end_reasons.items()),
    )


def _roll_up(
    dates: Sequence[date], per_day: Sequence[tuple[str, int]], granularity: str
) -> tuple[tuple[str, int], ...]:
    out: dict[str, int] = {}
    for d, (_, n) in zip(dates, per_day, strict=True):
        key = period_key(d, granularity)
        out[key] = out.get(key, 0) + n
    return tuple(out.items())


@dataclass(frozen=True, slots=True)
class Occupancy:
    """Busy station-minutes per local (weekday, hour): ``minutes[weekday][hour]``, Monday = 0.

    A session spanning several hours, midnight or a daylight-saving change is
    split at the real instants where each local hour starts. Only the part
    inside the period counts; running sessions do not count.
    """

    minutes: tuple[tuple[float, ...], ...]
    sessions_started: tuple[tuple[int, ...], ...]

    def total_minutes(self) -> float:
        return sum(sum(row) for row in self.minutes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "weekdays": list(WEEKDAYS),
            "minutes": [list(r) for r in self.minutes],
            "sessions_started": [list(r) for r in self.sessions_started],
        }


def occupancy_of(
    intervals: Iterable[tuple[float, float | None]], from_date: date, to_date: date, tz: tzinfo
) -> Occupancy:
    """Occupancy of ``(start, end)`` intervals over the local dates, inclusive."""
    lo, hi = utc_bounds(from_date, to_date, tz)
    wall = Wall(lo, hi, tz)
    seconds = [0.0] * 168
    started = [0] * 168
    for start, end in intervals:
        if lo <= start < hi:
            started[week_hour(wall.wall(start))] += 1
        if end is None:
            continue
        for w, w_end in wall.pieces(start, end):
            while w < w_end:  # one local hour at a time, on wall time
                stop = min(w_end, w - w % 3600 + 3600)
                seconds[week_hour(w)] += stop - w
                w = stop
    return Occupancy(
        minutes=tuple(tuple(s / 60 for s in seconds[d * 24 : d * 24 + 24]) for d in range(7)),
        sessions_started=tuple(tuple(started[d * 24 : d * 24 + 24]) for d in range(7)),
    )


@dataclass(frozen=True, slots=True)
class HelpFigures:
    """Visitors' help requests, and steward alerts raised by printers, counted apart.

    ``answer_seconds`` is taken - requested, over requests a steward took.
    """

    requested: int
    answered: int
    cancelled: int
    unanswered: int
    answer_seconds: Stats
    printer_alerts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "answered": self.answered,
            "cancelled": self.cancelled,
            "unanswered": self.unanswered,
            "answer_seconds": self.answer_seconds.as_dict(),
            "printer_alerts": self.printer_alerts,
        }


def summarize_help(
    rows: Iterable[tuple[str, float, float | None, float | None]],
) -> HelpFigures:
    """From ``(kind, requested, taken, cancelled)`` rows."""
    waits: list[float] = []
    requested = cancelled = unanswered = alerts = 0
    for kind, req, taken, cancel in rows:
        if kind != "visitor":
            alerts += 1
            continue
        requested += 1
        if taken is not None:
            waits.append(max(0.0, taken - req))
        elif cancel is not None:
            cancelled += 1
        else:
            unanswered += 1
    return HelpFigures(requested, len(waits), cancelled, unanswered, stats(waits), alerts)


@dataclass(frozen=True, slots=True)
class PrinterPages:
    printer: str
    jobs: int
    pages: int
    colour: int

    @property
    def bw(self) -> int:
        return self.pages - self.colour

    def as_dict(self) -> dict[str, Any]:
        return {
            "printer": self.printer,
            "jobs": self.jobs,
            "pages": self.pages,
            "bw": self.bw,
            "colour": self.colour,
        }


@dataclass(frozen=True, slots=True)
class PrintFigures:
    """Pages printed per printer; black and white = all pages - colour pages."""

    printers: tuple[PrinterPages, ...]

    @property
    def jobs(self) -> int:
        return sum(p.jobs for p in self.printers)

    @property
    def pages(self) -> int:
        return sum(p.pages for p in self.printers)

    @property
    def colour(self) -> int:
        return sum(p.colour for p in self.printers)

    @property
    def bw(self) -> int:
        return self.pages - self.colour

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "pages": self.pages,
            "bw": self.bw,
            "colour": self.colour,
            "printers": [p.as_dict() for p in self.printers],
        }


def summarize_prints(rows: Iterable[tuple[str, int, int, int]]) -> PrintFigures:
    """From ``(printer, jobs, pages, colour_pages)`` rows, several rows per printer allowed."""
    acc: dict[str, list[int]] = {}
    for printer, jobs, pages, colour in rows:
        slot = acc.setdefault(printer, [0, 0, 0])
        slot[0] += jobs
        slot[1] += pages
        slot[2] += colour
    return PrintFigures(tuple(PrinterPages(p, j, n, c) for p, (j, n, c) in sorted(acc.items())))


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Queue tickets issued, how they ended, and the wait (served - issued) of those served."""

    issued: int
    outcomes: tuple[tuple[str, int], ...]
    wait_seconds: Stats

    def as_dict(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "outcomes": dict(self.outcomes),
            "wait_seconds": self.wait_seconds.as_dict(),
        }


def summarize_queue(rows: Iterable[tuple[float, float | None, str]]) -> QueueFigures:
    """From ``(issued, served, outcome)`` rows."""
    outcomes: Counter[str] = Counter({"claimed": 0, "no_show": 0, "closed": 0})
    waits: list[float] = []
    issued = 0
    for iss, served, outcome in rows:
        issued += 1
        outcomes[outcome] += 1
        if served is not None:
            waits.append(max(0.0, served - iss))
    return QueueFigures(issued, tuple(outcomes.items()), stats(waits))


__all__ = [
    "END_REASONS",
    "KINDS",
    "WEEKDAYS",
    "HelpFigures",
    "Occupancy",
    "PrintFigures",
    "PrinterPages",
    "QueueFigures",
    "SessionFigures",
    "SessionRow",
    "Stats",
    "occupancy_of",
    "percentile",
    "stats",
    "summarize_help",
    "summarize_prints",
    "summarize_queue",
    "summarize_sessions",
]


@dataclass(frozen=True, slots=True)
class EscapeFigures:
    """Ways around the lock screen the stations noticed: anonymous counts, per what and per station kind."""

    per_what_kind: tuple[tuple[str, str, int], ...]  # (what, kind, n) for every what of the protocol and kind

    @property
    def total(self) -> int:
        return sum(n for _, _, n in self.per_what_kind)

    def by_what(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(ESCAPES, 0)
        for what, _, n in self.per_what_kind:
            out[what] = out.get(what, 0) + n
        return out

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(KINDS, 0)
        for _, kind, n in self.per_what_kind:
            out[kind] = out.get(kind, 0) + n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_what": self.by_what(), "by_kind": self.by_kind()}


def summarize_escapes(rows: Iterable[tuple[str, str, int]]) -> EscapeFigures:
    """From ``(what, station kind, count)`` rows; every what and kind of the protocol comes, with zeros."""
    counts: Counter[tuple[str, str]] = Counter({(w, k): 0 for w in ESCAPES for k in KINDS})
    for what, kind, n in rows:
        counts[(what, kind)] += n
    known = [(w, k) for w in ESCAPES for k in KINDS]
    others = sorted(set(counts) - set(known))  # a what or kind from a newer agent: counted, never dropped
    return EscapeFigures(tuple((w, k, counts[(w, k)]) for w, k in [*known, *others]))
