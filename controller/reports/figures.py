"""The back office's figures, read from the store for a range of local dates.

Every function here only reads (SELECT) from a ``sqlite3.Connection`` (pass
``db.conn`` for a sqlite-utils ``Database``), then hands the rows to the pure
functions of ``aggregate.py``; counts over long periods are grouped in SQL
(per local day through ``per_local_day``). Blocking: call them from the
store's reader threads, never on the event loop. Periods are local dates, both ends included;
the station kind filter is ``"pc"``, ``"tablet"`` or None for both.

Conventions:

- a session belongs to the local day it *started* on; sessions still running
  are counted as started and left out of durations, hours used and occupancy;
- "hour equivalents" is the annual report's count, one session = 60 minutes,
  so it equals the number of sessions; "hours used" is the real time used;
- help requests are visitors' requests; alerts raised by printers are counted
  apart; prints and help requests are filtered by kind through their station,
  so with a kind filter jobs no station sent (print server) are left out;
- the queue has no station, so the kind filter does not apply to it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from controller.reports.aggregate import (
    END_REASONS,
    KINDS,
    EscapeFigures,
    HelpFigures,
    Occupancy,
    PrintFigures,
    QueueFigures,
    SessionFigures,
    SessionRow,
    make_session_figures,
    occupancy_of,
    summarize_escapes,
    summarize_help,
    summarize_prints,
    summarize_queue,
)
from controller.reports.timebuckets import (
    DEFAULT_TZ,
    Wall,
    date_range,
    day_number,
    days,
    utc_bounds,
    zone,
)

# A session cannot run longer than this; occupancy looks back this far for
# sessions started before the period that still run into it.
MAX_SESSION_SECONDS = 24 * 3600


def check_kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, not {kind!r}")
    return kind


def resolve_period(
    from_date: date | str, to_date: date | str, tz: str | tzinfo | None
) -> tuple[date, date, tzinfo, float, float]:
    """Checked local dates, the zone, and the ``[lo, hi)`` UTC bounds they cover."""
    lo_d, hi_d = date_range(from_date, to_date)
    zone_ = zone(tz)
    lo, hi = utc_bounds(lo_d, hi_d, zone_)
    return lo_d, hi_d, zone_, lo, hi


# -- reading ---------------------------------------------------------------


def fetch_sessions(
    conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None
) -> list[SessionRow]:
    """Sessions started in ``[lo, hi)`` (UTC epoch seconds), oldest first."""
    sql = (
        'SELECT station, station_kind, start, "end", end_reason, origin, lang, '
        "pages_bw, pages_colour FROM sessions WHERE start >= ? AND start < ?"
    )
    args: list[Any] = [lo, hi]
    if kind is not None:
        sql += " AND station_kind = ?"
        args.append(kind)
    return [SessionRow(*r) for r in conn.execute(sql + " ORDER BY start", args)]


def fetch_intervals(
    conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None
) -> list[tuple[float, float | None]]:
    """``(start, end)`` of sessions that started in ``[lo, hi)`` or still ran into it."""
    sql = (
        'SELECT start, "end" FROM sessions WHERE start >= ? AND start < ? '
        'AND ("end" IS NULL OR "end" > ?)'
    )
    args: list[Any] = [lo - MAX_SESSION_SECONDS, hi, lo]
    if kind is not None:
        sql += " AND station_kind = ?"
        args.append(kind)
    return [(r[0], r[1]) for r in conn.execute(sql, args)]


def fetch_help(
    conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None
) -> list[tuple[str, float, float | None, float | None]]:
    """``(kind, requested, taken, cancelled)`` of help requests made in ``[lo, hi)``."""
    sql = "SELECT h.kind, h.requested, h.taken, h.cancelled FROM help_requests h"
    args: list[Any] = []
    if kind is not None:
        sql += " JOIN stations s ON s.id = h.station AND s.kind = ?"
        args.append(kind)
    sql += " WHERE h.requested >= ? AND h.requested < ?"
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(sql, [*args, lo, hi])]


# one job of a station's print system: the job key without its logged second, within the session
JOB_OF_ROW = (
    "COALESCE(p.session_id, p.id) || '/' || substr(p.job_key, 1, instr(p.job_key || '@', '@') - 1)"
)


def fetch_prints(
    conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None
) -> list[tuple[str, int, int, int]]:
    """``(printer, jobs, pages, colour pages)`` per printer for jobs in ``[lo, hi)``;
    printers known to the store but idle in the period come with zeros.

    A job retried or restarted after it was first counted has a row for what it grew by
    (its next ``total`` line, logged at another second): one job all the same, so jobs are
    counted by printer and job id within a session (a row outside a session is a job)."""
    sql = f"SELECT p.printer, COUNT(DISTINCT {JOB_OF_ROW}), SUM(p.pages), SUM(p.colour_pages) FROM print_jobs p"
    args: list[Any] = []
    if kind is not None:
        sql += " JOIN stations s ON s.id = p.station AND s.kind = ?"
        args.append(kind)
    sql += " WHERE p.at >= ? AND p.at < ? GROUP BY p.printer"
    rows = [(r[0], r[1], r[2] or 0, r[3] or 0) for r in conn.execute(sql, [*args, lo, hi])]
    rows += [(r[0], 0, 0, 0) for r in conn.execute("SELECT id FROM printers")]
    return rows


def fetch_escapes(conn: sqlite3.Connection, lo: float, hi: float, kind: str | None = None) -> list[tuple[str, str, int]]:
    """``(what, station kind, count)`` of lock-screen escapes in ``[lo, hi)`` (one row per event id)."""
    sql = "SELECT what, station_kind, COUNT(*) FROM escapes WHERE at >= ? AND at < ?"
    args: list[Any] = [lo, hi]
    if kind is not None:
        sql += " AND station_kind = ?"
        args.append(kind)
    return [(r[0], r[1], r[2]) for r in conn.execute(sql + " GROUP BY what, station_kind", args)]


def fetch_queue(
    conn: sqlite3.Connection, lo: float, hi: float
) -> list[tuple[float, float | None, str]]:
    """``(issued, served, outcome)`` of queue tickets issued in ``[lo, hi)``."""
    sql = "SELECT issued, served, outcome FROM queue_waits WHERE issued >= ? AND issued < ?"
    return [(r[0], r[1], r[2]) for r in conn.execute(sql, (lo, hi))]


def per_local_day(
    conn: sqlite3.Connection, wall: Wall, sql: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run ``sql`` once per stretch of constant UTC offset and concatenate the rows.

    ``sql`` binds ``:a`` and ``:b`` (the stretch, UTC) and ``:o`` (its offset in
    seconds), so ``CAST((t + :o) / 86400 AS INTEGER)`` is the local day number
    of instant ``t``: SQLite groups by local day without knowing any zone.
    """
    rows: list[tuple[Any, ...]] = []
    for a, b, o in wall.segments:
        rows.extend(conn.execute(sql, {**(params or {}), "a": a, "b": b, "o": o}))
    return rows


# -- figures for a period ----------------------------------------------------


def session_figures(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> SessionFigures:
    """Like ``summarize_sessions(fetch_sessions(...))``, counted in SQL (fast on years)."""
    lo_d, hi_d, zone_, lo, hi = resolve_period(from_date, to_date, tz)
    kind = check_kind(kind)
    where = "start >= :a AND start < :b" + (" AND station_kind = :kind" if kind else "")
    wall = Wall(lo, hi, zone_)
    per_day: Counter[int] = Counter()
    per_kind: Counter[str] = Counter({k: 0 for k in KINDS})
    for day, k, n in per_local_day(
        conn,
        wall,
        f"SELECT CAST((start + :o) / 86400 AS INTEGER), station_kind, COUNT(*) FROM sessions "
        f"WHERE {where} GROUP BY 1, 2",
        {"kind": kind},
    ):
        per_day[day] += n
        per_kind[k] += n
    params = {"a": lo, "b": hi, "kind": kind}
    stations = Counter(
        dict(
            conn.execute(f"SELECT station, COUNT(*) FROM sessions WHERE {where} GROUP BY 1", params)
        )
    )
    reasons: Counter[str] = Counter({r: 0 for r in END_REASONS})
    running = 0
    for is_running, reason, n in conn.execute(
        f'SELECT "end" IS NULL, end_reason, COUNT(*) FROM sessions WHERE {where} GROUP BY 1, 2',
        params,
    ):
        if is_running:
            running += n
        else:
            reasons[reason or "unknown"] += n
    minutes = [
        secs / 60
        for (secs,) in conn.execute(
            f'SELECT MAX(0.0, "end" - start) FROM sessions WHERE {where} AND "end" IS NOT NULL',
            params,
        )
    ]
    first = day_number(lo_d)
    return make_session_figures(
        [per_day[first + i] for i, _ in enumerate(days(lo_d, hi_d))],
        lo_d,
        running=running,
        minutes=minutes,
        per_kind=per_kind,
        per_station=stations,
        end_reasons=reasons,
    )


def occupancy(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> Occupancy:
    lo_d, hi_d, zone_, lo, hi = resolve_period(from_date, to_date, tz)
    return occupancy_of(fetch_intervals(conn, lo, hi, check_kind(kind)), lo_d, hi_d, zone_)


def help_figures(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> HelpFigures:
    _, _, _, lo, hi = resolve_period(from_date, to_date, tz)
    return summarize_help(fetch_help(conn, lo, hi, check_kind(kind)))


def print_figures(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> PrintFigures:
    _, _, _, lo, hi = resolve_period(from_date, to_date, tz)
    return summarize_prints(fetch_prints(conn, lo, hi, check_kind(kind)))


def queue_figures(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
) -> QueueFigures:
    _, _, _, lo, hi = resolve_period(from_date, to_date, tz)
    return summarize_queue(fetch_queue(conn, lo, hi))


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the reports page shows for one period and kind filter."""

    from_date: date
    to_date: date
    tz: str
    kind: str | None
    sessions: SessionFigures
    occupancy: Occupancy
    help: HelpFigures
    prints: PrintFigures
    queue: QueueFigures
    escapes: EscapeFigures

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_date.isoformat(),
            "to": self.to_date.isoformat(),
            "tz": self.tz,
            "kind": self.kind,
            "sessions": self.sessions.as_dict(),
            "occupancy": self.occupancy.as_dict(),
            "help": self.help.as_dict(),
            "prints": self.prints.as_dict(),
            "queue": self.queue.as_dict(),
            "escapes": self.escapes.as_dict(),
        }


def report(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> Report:
    lo_d, hi_d, zone_, lo, hi = resolve_period(from_date, to_date, tz)
    kind = check_kind(kind)
    return Report(
        from_date=lo_d,
        to_date=hi_d,
        tz=str(zone_),
        kind=kind,
        sessions=session_figures(conn, lo_d, hi_d, zone_, kind),
        occupancy=occupancy_of(fetch_intervals(conn, lo, hi, kind), lo_d, hi_d, zone_),
        help=summarize_help(fetch_help(conn, lo, hi, kind)),
        prints=summarize_prints(fetch_prints(conn, lo, hi, kind)),
        queue=summarize_queue(fetch_queue(conn, lo, hi)),
        escapes=summarize_escapes(fetch_escapes(conn, lo, hi, kind)),
    )


# -- the annual-report block -------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnnualFigures:
    """The block of the annual report, for a year or any period.

    ``hour_equivalents`` counts one session as 60 minutes (the report's
    convention, = sessions); ``hours_used`` is the real time used.
    """

    from_date: date
    to_date: date
    sessions_pc: int
    sessions_tablet: int
    hour_equivalents: int
    hours_used: float
    pages: int
    pages_colour: int
    help_requests: int
    visitors_queued: int
    escapes: int = 0  # ways around the lock screen the stations noticed (anonymous)

    @property
    def sessions(self) -> int:
        return self.sessions_pc + self.sessions_tablet

    @property
    def pages_bw(self) -> int:
        return self.pages - self.pages_colour

    def lines(self) -> list[tuple[str, str, int | float]]:
        """``(key, English label, value)`` in the report's order."""
        return [
            ("sessions_pc", "Sessions on PCs", self.sessions_pc),
            ("sessions_tablet", "Sessions on tablets", self.sessions_tablet),
            ("sessions", "Sessions, all stations", self.sessions),
            ("hours_used", "Hours used", round(self.hours_used, 2)),
            ("pages", "Pages printed", self.pages),
            ("pages_bw", "Pages printed, black and white", self.pages_bw),
            ("pages_colour", "Pages printed, colour", self.pages_colour),
            ("help_requests", "Help requests", self.help_requests),
            ("visitors_queued", "Visitors queued", self.visitors_queued),
            ("escapes", "Ways around the lock screen", self.escapes),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_date.isoformat(),
            "to": self.to_date.isoformat(),
            **{key: value for key, _, value in self.lines()},
            "hours_used": self.hours_used,
            "hour_equivalents": self.hour_equivalents,  # kept in the JSON; no longer shown (= sessions)
        }


def summary(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> AnnualFigures:
    """The annual-report block over any period, aggregated in SQL."""
    lo_d, hi_d, _, lo, hi = resolve_period(from_date, to_date, tz)
    kind = check_kind(kind)
    per_kind = {k: (0, 0.0) for k in KINDS}
    sql = (
        'SELECT station_kind, COUNT(*), TOTAL(CASE WHEN "end" > start THEN "end" - start END) '
        "FROM sessions WHERE start >= ? AND start < ? GROUP BY station_kind"
    )
    for k, n, secs in conn.execute(sql, (lo, hi)):
        if k in per_kind and (kind is None or k == kind):
            per_kind[k] = (n, secs)
    prints = summarize_prints(fetch_prints(conn, lo, hi, kind))
    help_sql = "SELECT COUNT(*) FROM help_requests h"
    args: list[Any] = []
    if kind is not None:
        help_sql += " JOIN stations s ON s.id = h.station AND s.kind = ?"
        args.append(kind)
    help_sql += " WHERE h.kind = 'visitor' AND h.requested >= ? AND h.requested < ?"
    (helped,) = conn.execute(help_sql, [*args, lo, hi]).fetchone()
    (queued,) = conn.execute(
        # a ticket the desk cancelled is no visitor served (a mistake, or someone who left)
        "SELECT COUNT(*) FROM queue_waits WHERE issued >= ? AND issued < ? AND outcome != 'cancelled'",
        (lo, hi),
    ).fetchone()
    sessions = sum(n for n, _ in per_kind.values())
    return AnnualFigures(
        from_date=lo_d,
        to_date=hi_d,
        sessions_pc=per_kind["pc"][0],
        sessions_tablet=per_kind["tablet"][0],
        hour_equivalents=sessions,
        hours_used=sum(s for _, s in per_kind.values()) / 3600,
        pages=prints.pages,
        pages_colour=prints.colour,
        help_requests=helped,
        visitors_queued=queued,
        escapes=summarize_escapes(fetch_escapes(conn, lo, hi, kind)).total,
    )


def annual(
    conn: sqlite3.Connection, year: int, tz: str | tzinfo | None = DEFAULT_TZ
) -> AnnualFigures:
    """The annual-report block for a calendar year in local time."""
    if not isinstance(year, int) or not 1970 <= year <= 9998:
        raise ValueError(f"year must be an integer from 1970, not {year!r}")
    return summary(conn, date(year, 1, 1), date(year, 12, 31), tz)
