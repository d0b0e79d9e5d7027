"""A small, hand-checked store for the report tests (Europe/Brussels).

Spring: Saturday 2026-03-28 and Sunday 2026-03-29, when clocks go from
02:00 CET to 03:00 CEST (01:00 UTC). Autumn: Sunday 2026-10-25, when clocks
go back from 03:00 CEST to 02:00 CET (01:00 UTC). The expected figures are
worked out by hand in the tests, next to each assertion.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from controller.store.schema import MIGRATIONS

BRU = ZoneInfo("Europe/Brussels")


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, fold: int = 0) -> float:
    """A Brussels wall-clock time as UTC epoch seconds (fold=1: the second 02:xx in autumn)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=BRU, fold=fold).timestamp()


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()


def empty_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for sql in MIGRATIONS:
        conn.executescript(sql)
    return conn


def add_session(
    conn: sqlite3.Connection,
    sid: str,
    station: str,
    start: float,
    end: float | None,
    reason: str | None,
    *,
    origin: str = "walkup",
    lang: str = "fr",
    bw: int = 0,
    colour: int = 0,
) -> None:
    kind = "tablet" if station.startswith("TAB") else "pc"
    conn.execute(
        'INSERT INTO sessions (id, station, station_kind, start, planned_end, "end", end_reason,'
        " origin, lang, pages_bw, pages_colour) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (sid, station, kind, start, start + 3600, end, reason, origin, lang, bw, colour),
    )


def build() -> sqlite3.Connection:
    conn = empty_db()
    for sid, kind in (("PC-01", "pc"), ("PC-02", "pc"), ("TAB-01", "tablet")):
        conn.execute("INSERT INTO stations (id, kind, created) VALUES (?, ?, 0)", (sid, kind))
    for printer in ("hall", "office", "lab"):
        conn.execute("INSERT INTO printers (id) VALUES (?)", (printer,))

    # -- spring: 2026-03-28 (Sat) and 2026-03-29 (Sun, 23 hours long)
    add_session(
        conn, "S1", "PC-01", local(2026, 3, 28, 10), local(2026, 3, 28, 11), "time", bw=5, lang="nl"
    )
    add_session(
        conn,
        "S2",
        "PC-02",
        local(2026, 3, 28, 16, 30),
        local(2026, 3, 28, 17),
        "closing",
        bw=2,
        colour=1,
        origin="ticket",
    )
    # crosses midnight: 30 min on Saturday 23h, 45 min on Sunday 0h
    add_session(conn, "S3", "PC-01", local(2026, 3, 28, 23, 30), local(2026, 3, 29, 0, 45), "idle")
    # crosses the spring change: 01:30 CET -> 03:30 CEST is 60 real minutes
    add_session(
        conn, "S4", "PC-02", local(2026, 3, 29, 1, 30), local(2026, 3, 29, 3, 30), "visitor"
    )
    add_session(
        conn,
        "S5",
        "TAB-01",
        local(2026, 3, 29, 10),
        local(2026, 3, 29, 10, 20),
        "steward",
        lang="en",
    )
    add_session(conn, "S6", "PC-01", local(2026, 3, 29, 14), None, None)  # still running
    # started on Friday, runs 30 min into Saturday
    add_session(conn, "S7", "PC-02", local(2026, 3, 27, 23), local(2026, 3, 28, 0, 30), "time")
    # Monday, after the spring period
    add_session(conn, "S8", "PC-01", local(2026, 3, 30, 0, 10), local(2026, 3, 30, 0, 40), "time")

    # -- autumn: 2026-10-25 (Sun, 25 hours long)
    # 02:30 CEST -> 02:30 CET is 60 real minutes, all in the local 2h bucket
    add_session(
        conn, "A1", "PC-01", local(2026, 10, 25, 2, 30), local(2026, 10, 25, 2, 30, fold=1), "time"
    )
    # 01:45 CEST -> 02:15 CET is 90 real minutes: 15 in 1h, 60 + 15 in 2h
    add_session(
        conn,
        "A2",
        "PC-02",
        local(2026, 10, 25, 1, 45),
        local(2026, 10, 25, 2, 15, fold=1),
        "booking",
        origin="booking",
    )
    add_session(
        conn, "A3", "TAB-01", local(2026, 10, 25, 16, 50), local(2026, 10, 25, 17), "closing"
    )
    add_session(
        conn,
        "A4",
        "PC-01",
        local(2026, 10, 25, 23, 50),
        local(2026, 10, 26, 0, 20),
        "station_restart",
    )

    # -- help requests (spring)
    help_rows = [
        ("H1", "PC-01", "visitor", local(2026, 3, 28, 10, 10), 60, None),
        ("H2", "PC-02", "visitor", local(2026, 3, 28, 16, 35), 180, None),
        ("H3", "TAB-01", "visitor", local(2026, 3, 29, 10, 5), 30, None),
        ("H4", "PC-01", "visitor", local(2026, 3, 29, 14, 10), None, 120),  # cancelled
        ("H5", "PC-02", "visitor", local(2026, 3, 29, 14, 20), None, None),  # never taken
        ("H6", "hall", "printer", local(2026, 3, 28, 12), 300, None),  # a printer's alert
        ("H7", "PC-01", "visitor", local(2026, 3, 30, 10), 999, None),  # after the period
    ]
    for hid, station, kind, requested, answer, cancel in help_rows:
        conn.execute(
            "INSERT INTO help_requests (id, station, kind, requested, taken, cancelled)"
            " VALUES (?,?,?,?,?,?)",
            (
                hid,
                station,
                kind,
                requested,
                None if answer is None else requested + answer,
                None if cancel is None else requested + cancel,
            ),
        )

    # -- print jobs (spring)
    jobs = [
        ("J1", "hall", "PC-01", "S1", 5, 0, local(2026, 3, 28, 10, 15)),
        ("J2", "hall", "PC-02", "S2", 3, 1, local(2026, 3, 28, 16, 40)),
        ("J3", "office", "PC-01", "S3", 10, 4, local(2026, 3, 29, 0, 10)),
        ("J4", "office", "TAB-01", "S5", 2, 2, local(2026, 3, 29, 10, 10)),
        ("J5", "office", None, None, 7, 0, local(2026, 3, 29, 12)),  # print server, no station
        ("J6", "hall", "PC-01", "S8", 100, 0, local(2026, 3, 30, 10)),  # after the period
    ]
    for jid, printer, station, session, pages, colour, at in jobs:
        conn.execute(
            "INSERT INTO print_jobs (id, job_key, station, session_id, printer, pages,"
            " colour_pages, at, source) VALUES (?,?,?,?,?,?,?,?,'fake')",
            (jid, f"{printer}:{jid}", station, session, printer, pages, colour, at),
        )

    # -- queue waits (spring)
    waits = [
        (local(2026, 3, 28, 10), 300, "claimed"),
        (local(2026, 3, 28, 11), 600, "claimed"),
        (local(2026, 3, 29, 10), None, "no_show"),
        (local(2026, 3, 29, 16, 55), None, "closed"),
        (local(2026, 3, 29, 11), 120, "claimed"),
        (local(2026, 3, 30, 10), 50, "claimed"),  # after the period
    ]
    for issued, wait, outcome in waits:
        conn.execute(
            "INSERT INTO queue_waits (issued, served, outcome) VALUES (?,?,?)",
            (issued, None if wait is None else issued + wait, outcome),
        )
    conn.commit()
    return conn
