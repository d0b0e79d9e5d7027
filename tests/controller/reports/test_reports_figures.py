"""Report figures against numbers worked out by hand on reports_fixture."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from reports_fixture import BRU, add_session, build, empty_db, local

from controller.reports import figures
from controller.reports.aggregate import occupancy_of, percentile, stats, summarize_sessions
from controller.reports.timebuckets import Wall, offset_segments, utc_bounds, week_hour

SPRING = ("2026-03-28", "2026-03-29")
AUTUMN = ("2026-10-25", "2026-10-25")
SAT, SUN = 5, 6


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = build()
    yield c
    c.close()


def test_sessions_spring_counts(conn: sqlite3.Connection) -> None:
    f = figures.session_figures(conn, *SPRING, tz="Europe/Brussels")
    # S1, S2, S3 start on Saturday; S4, S5, S6 on Sunday; S7 (Fri) and S8 (Mon) are out
    assert f.started == 6
    assert f.running == 1  # S6
    assert f.hour_equivalents == 6
    assert f.per_day == (("2026-03-28", 3), ("2026-03-29", 3))
    assert f.per_week == (("2026-W13", 6),)
    assert f.per_month == (("2026-03", 6),)
    assert f.per_year == (("2026", 6),)
    assert dict(f.per_kind) == {"pc": 5, "tablet": 1}
    assert dict(f.per_station) == {"PC-01": 3, "PC-02": 2, "TAB-01": 1}


def test_sessions_spring_durations(conn: sqlite3.Connection) -> None:
    f = figures.session_figures(conn, *SPRING)
    # finished: S1 60, S2 30, S3 75 (over midnight), S4 60 (real, over the change), S5 20
    assert f.hours_used == pytest.approx(245 / 60)
    d = f.duration_minutes
    assert d.count == 5
    assert d.mean == pytest.approx(49.0)
    assert d.median == pytest.approx(60.0)
    assert d.p90 == pytest.approx(75.0)
    reasons = dict(f.end_reasons)
    assert reasons == {
        "time": 1,
        "closing": 1,
        "booking": 0,
        "visitor": 1,
        "idle": 1,
        "steward": 1,
        "station_restart": 0,
        "screen": 0,
    }


def test_sessions_kind_filter(conn: sqlite3.Connection) -> None:
    pcs = figures.session_figures(conn, *SPRING, kind="pc")
    tabs = figures.session_figures(conn, *SPRING, kind="tablet")
    assert (pcs.started, tabs.started) == (5, 1)
    assert pcs.hours_used == pytest.approx(225 / 60)
    assert tabs.duration_minutes.median == pytest.approx(20.0)


def test_occupancy_spring(conn: sqlite3.Connection) -> None:
    occ = figures.occupancy(conn, *SPRING)
    m = occ.minutes
    assert m[SAT][0] == pytest.approx(30)  # S7, started Friday 23:00
    assert m[SAT][10] == pytest.approx(60)  # S1
    assert m[SAT][16] == pytest.approx(30)  # S2
    assert m[SAT][23] == pytest.approx(30)  # S3 before midnight
    assert m[SUN][0] == pytest.approx(45)  # S3 after midnight
    assert m[SUN][1] == pytest.approx(30)  # S4 01:30-02:00 CET
    assert m[SUN][2] == 0  # 02:xx does not exist that night
    assert m[SUN][3] == pytest.approx(30)  # S4 03:00-03:30 CEST
    assert m[SUN][10] == pytest.approx(20)  # S5
    assert m[SUN][14] == 0  # S6 is running: started, not counted
    assert occ.total_minutes() == pytest.approx(275)
    assert occ.sessions_started[SUN][14] == 1
    assert occ.sessions_started[SAT][0] == 0  # S7 started before the period
    assert sum(map(sum, occ.sessions_started)) == 6


def test_autumn_day(conn: sqlite3.Connection) -> None:
    f = figures.session_figures(conn, *AUTUMN)
    # A1 60 real minutes, A2 90, A3 10, A4 30 (counted on the day it started)
    assert f.started == 4
    assert f.hours_used == pytest.approx(190 / 60)
    assert f.duration_minutes.mean == pytest.approx(47.5)
    assert f.duration_minutes.median == pytest.approx(45.0)
    assert dict(f.end_reasons)["booking"] == 1
    assert dict(f.end_reasons)["station_restart"] == 1
    occ = figures.occupancy(conn, *AUTUMN)
    assert occ.minutes[SUN][1] == pytest.approx(15)  # A2 01:45-02:00 CEST
    assert occ.minutes[SUN][2] == pytest.approx(135)  # 02:xx twice: A1 60, A2 60 + 15
    assert occ.minutes[SUN][16] == pytest.approx(10)  # A3 ends at closing
    assert occ.minutes[SUN][23] == pytest.approx(10)  # A4 up to midnight only
    assert occ.total_minutes() == pytest.approx(170)


def test_offset_segments_on_change_days() -> None:
    lo, hi = utc_bounds(date(2026, 3, 29), date(2026, 3, 29), BRU)
    assert hi - lo == 23 * 3600
    change = local(2026, 3, 29, 3)  # 01:00 UTC
    assert offset_segments(lo, hi, BRU) == [(lo, change, 3600), (change, hi, 7200)]
    lo, hi = utc_bounds(date(2026, 10, 25), date(2026, 10, 25), BRU)
    assert hi - lo == 25 * 3600
    back = local(2026, 10, 25, 2, fold=1)  # 01:00 UTC
    assert offset_segments(lo, hi, BRU) == [(lo, back, 7200), (back, hi, 3600)]
    lo, hi = utc_bounds(date(2026, 1, 1), date(2026, 12, 31), BRU)
    assert len(offset_segments(lo, hi, BRU)) == 3


def test_wall_pieces_split_at_the_change() -> None:
    lo, hi = utc_bounds(date(2026, 10, 25), date(2026, 10, 25), BRU)
    wall = Wall(lo, hi, BRU)
    start, end = local(2026, 10, 25, 2, 30), local(2026, 10, 25, 2, 30, fold=1)
    pieces = list(wall.pieces(start, end))
    assert [b - a for a, b in pieces] == [1800, 1800]
    assert {week_hour(a) for a, _ in pieces} == {SUN * 24 + 2}


def test_help_figures(conn: sqlite3.Connection) -> None:
    h = figures.help_figures(conn, *SPRING)
    assert (h.requested, h.answered, h.cancelled, h.unanswered) == (5, 3, 1, 1)
    assert h.printer_alerts == 1
    # answered in 60, 180 and 30 seconds
    assert h.answer_seconds.mean == pytest.approx(90)
    assert h.answer_seconds.median == pytest.approx(60)
    assert h.answer_seconds.p90 == pytest.approx(180)
    pcs = figures.help_figures(conn, *SPRING, kind="pc")
    assert (pcs.requested, pcs.answered, pcs.printer_alerts) == (4, 2, 0)
    assert pcs.answer_seconds.median == pytest.approx(120)


def test_print_figures(conn: sqlite3.Connection) -> None:
    p = figures.print_figures(conn, *SPRING)
    per = {x.printer: (x.jobs, x.pages, x.bw, x.colour) for x in p.printers}
    assert per == {"hall": (2, 8, 7, 1), "office": (3, 19, 13, 6), "lab": (0, 0, 0, 0)}
    assert (p.pages, p.bw, p.colour, p.jobs) == (27, 20, 7, 5)
    pcs = figures.print_figures(conn, *SPRING, kind="pc")
    assert (pcs.pages, pcs.colour) == (18, 5)  # J1 + J2 + J3; no tablet, no server job


def test_queue_figures(conn: sqlite3.Connection) -> None:
    q = figures.queue_figures(conn, *SPRING)
    assert q.issued == 5
    assert dict(q.outcomes) == {"claimed": 3, "no_show": 1, "closed": 1}
    assert q.wait_seconds.count == 3
    assert q.wait_seconds.mean == pytest.approx(340)
    assert q.wait_seconds.median == pytest.approx(300)
    assert q.wait_seconds.p90 == pytest.approx(600)


def test_report_bundles_and_serialises(conn: sqlite3.Connection) -> None:
    r = figures.report(conn, *SPRING)
    d = r.as_dict()
    assert d["from"] == "2026-03-28"
    assert d["sessions"]["per_day"] == {"2026-03-28": 3, "2026-03-29": 3}
    assert d["prints"]["pages"] == 27
    assert d["occupancy"]["minutes"][SUN][3] == pytest.approx(30)
    assert d["help"]["answer_seconds"]["p90"] == pytest.approx(180)
    assert d["queue"]["issued"] == 5


def test_summary_and_annual(conn: sqlite3.Connection) -> None:
    s = figures.summary(conn, *SPRING)
    assert (s.sessions_pc, s.sessions_tablet, s.sessions, s.hour_equivalents) == (5, 1, 6, 6)
    assert s.hours_used == pytest.approx(245 / 60)
    assert (s.pages, s.pages_bw, s.pages_colour) == (27, 20, 7)
    assert (s.help_requests, s.visitors_queued) == (5, 5)
    a = figures.annual(conn, 2026)
    # every fixture session: S1-S8 and A1-A4; PCs all but S5 and A3
    assert (a.sessions_pc, a.sessions_tablet, a.hour_equivalents) == (10, 2, 12)
    # 245 (spring) + 90 (S7) + 30 (S8) + 190 (autumn) minutes
    assert a.hours_used == pytest.approx(555 / 60)
    assert (a.pages, a.pages_colour, a.help_requests, a.visitors_queued) == (127, 7, 6, 6)
    assert a.as_dict()["sessions_pc"] == 10
    assert [key for key, _, _ in a.lines()][:3] == ["sessions_pc", "sessions_tablet", "sessions"]


def test_annual_year_edges_are_local() -> None:
    conn = empty_db()
    # 23:30 CET on 31 December is 22:30 UTC: 2026. 00:30 CET on 1 January is 23:30 UTC
    # on 31 December: 2027 in Brussels, 2026 to a UTC-naive count.
    add_session(conn, "a", "PC-01", local(2026, 12, 31, 23, 30), local(2027, 1, 1, 0, 10), "time")
    add_session(conn, "b", "PC-01", local(2027, 1, 1, 0, 30), local(2027, 1, 1, 1), "time")
    assert figures.annual(conn, 2026).sessions_pc == 1
    assert figures.annual(conn, 2027).sessions_pc == 1
    assert figures.annual(conn, 2026, tz="UTC").sessions_pc == 2


def test_empty_period_is_zero() -> None:
    f = figures.session_figures(empty_db(), "2026-01-05", "2026-01-11")
    assert f.started == 0
    assert f.duration_minutes.mean is None
    assert len(f.per_day) == 7
    assert all(n == 0 for _, n in f.per_day)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2026-03-29", "2026-03-28"), "after"),
        (("2026-13-01", "2026-12-31"), "ISO date"),
        (("2026-03-28", "2026-03-29", "Mars/Olympus"), "time zone"),
        (("2026-03-28", "2026-03-29", "Europe/Brussels", "laptop"), "kind"),
    ],
)
def test_bad_arguments(conn: sqlite3.Connection, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        figures.session_figures(conn, *args)


def test_bad_year(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="year"):
        figures.annual(conn, 19)


def test_percentile_and_stats() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([5], 90) == 5
    s = stats([3, 1, 2, 10])
    assert (s.count, s.mean, s.median, s.p90) == (4, 4, 2.5, 10)


@pytest.mark.parametrize(
    ("period", "kind"),
    [
        (SPRING, None),
        (SPRING, "pc"),
        (SPRING, "tablet"),
        (AUTUMN, None),
        (("2026-01-01", "2026-12-31"), None),
    ],
)
def test_sql_and_pure_session_figures_agree(
    conn: sqlite3.Connection, period: tuple[str, str], kind: str | None
) -> None:
    lo_d, hi_d, zone_, lo, hi = figures.resolve_period(*period, "Europe/Brussels")
    pure = summarize_sessions(figures.fetch_sessions(conn, lo, hi, kind), lo_d, hi_d, zone_)
    assert figures.session_figures(conn, *period, kind=kind) == pure


@pytest.mark.parametrize(
    "tz", ["Europe/Brussels", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_occupancy_matches_minute_by_minute(tz: str) -> None:
    """Against a brute-force count: every minute of every session looked up in the zone."""
    zone_ = ZoneInfo(tz)
    rng = random.Random(tz)
    lo, hi = figures.resolve_period("2026-03-25", "2026-04-08", tz)[3:]
    intervals: list[tuple[float, float | None]] = []
    for _ in range(150):
        start = lo - 6 * 3600 + 60 * rng.randrange(int((hi - lo) / 60) + 360)
        intervals.append((start, start + 60 * rng.randrange(1, 600)))
    expected = [[0] * 24 for _ in range(7)]
    for start, end in intervals:
        assert end is not None
        for t in range(int(start), int(end), 60):
            if lo <= t < hi:
                local_t = datetime.fromtimestamp(t, zone_)
                expected[local_t.weekday()][local_t.hour] += 1
    occ = occupancy_of(intervals, date(2026, 3, 25), date(2026, 4, 8), zone_)
    assert [[round(m, 6) for m in row] for row in occ.minutes] == expected


def test_a_retried_job_counts_once_with_all_its_pages(conn: sqlite3.Connection) -> None:
    # seen on an installed station: cupsd logs "total 2" for a failed attempt and "total 4" when
    # the retry prints; the station records 2 pages, then the 2 it grew by (logged a second later)
    at = local(2026, 3, 28, 11)
    for jid, pages, second in (("R1", 2, at), ("R2", 2, at + 10)):
        conn.execute(
            "INSERT INTO print_jobs (id, job_key, station, session_id, printer, pages, colour_pages, at, source)"
            " VALUES (?,?,?,?,?,?,0,?,'cups')",
            (jid, f"pc-01/lab#7@{int(second)}", "PC-01", "S1", "lab", pages, second),
        )
    # the same job id in another session is another job (a wiped spool numbers from 1 again)
    conn.execute(
        "INSERT INTO print_jobs (id, job_key, station, session_id, printer, pages, colour_pages, at, source)"
        " VALUES ('R3', ?, 'PC-01', 'S2', 'lab', 1, 0, ?, 'cups')",
        (f"pc-01/lab#7@{int(at) + 3600}", at + 3600),
    )
    per = {x.printer: (x.jobs, x.pages) for x in figures.print_figures(conn, *SPRING).printers}
    assert per["lab"] == (2, 5)
