"""Exports re-read with the csv module and openpyxl: values, types, layout."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from reports_fixture import build

from controller.reports import export
from controller.reports.export import build_table

SPRING = ("2026-03-28", "2026-03-29")


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = build()
    yield c
    c.close()


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, so that Excel reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def csv_of(conn: sqlite3.Connection, what: str, *dates: str, **kw: str) -> list[list[str]]:
    out = io.BytesIO()
    export(conn, what, *(dates or SPRING), "csv", out, **kw)
    return read_csv(out.getvalue())


def xlsx_of(conn: sqlite3.Connection, what: str, *dates: str, **kw: str):  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    export(conn, what, *(dates or SPRING), "xlsx", out, **kw)
    out.seek(0)
    return load_workbook(out)


def test_sessions_csv(conn: sqlite3.Connection) -> None:
    rows = csv_of(conn, "sessions")
    assert rows[0] == [
        "station", "kind", "start", "end", "minutes", "end_reason", "origin", "lang",
        "pages_bw", "pages_colour",
    ]  # fmt: skip
    assert len(rows) == 7
    assert rows[1] == [
        "PC-01", "pc", "2026-03-28 10:00:00", "2026-03-28 11:00:00", "60", "time",
        "walkup", "nl", "5", "0",
    ]  # fmt: skip
    # over the spring change: local times as on the wall, 60 real minutes
    assert rows[4][2:6] == ["2026-03-29 01:30:00", "2026-03-29 03:30:00", "60", "visitor"]
    assert rows[6][3:6] == ["", "", ""]  # still running
    assert not any("S1" in cell for row in rows for cell in row)  # no ids


def test_sessions_xlsx_types(conn: sqlite3.Connection) -> None:
    book = xlsx_of(conn, "sessions")
    sheet = book["sessions"]
    assert sheet.freeze_panes == "A2"
    assert all(c.font.bold for c in sheet[1])
    assert sheet.column_dimensions["C"].width >= 20
    start, end, minutes = sheet["C2"].value, sheet["D2"].value, sheet["E2"].value
    assert start == datetime(2026, 3, 28, 10, 0)
    assert end == datetime(2026, 3, 28, 11, 0)
    assert minutes == 60
    assert isinstance(minutes, int)
    assert sheet["C2"].is_date
    assert sheet["D7"].value is None
    assert sheet.max_row == 7


def test_accents_survive_csv() -> None:
    from controller.reports.export import Column, Table, write_csv

    out = io.BytesIO()
    write_csv(Table("t", (Column("zone"),), [("Salle d'étude — Saint-Gillis",)]), out)
    assert read_csv(out.getvalue())[1] == ["Salle d'étude — Saint-Gillis"]


def test_prints_kind_filter(conn: sqlite3.Connection) -> None:
    rows = csv_of(conn, "prints", kind="pc")
    assert [r[1] for r in rows[1:]] == ["hall", "hall", "office"]
    assert rows[3][4:7] == ["10", "6", "4"]  # pages, bw, colour
    book = xlsx_of(conn, "prints")
    sheet = book["prints"]
    assert sheet.max_row == 6
    assert sheet["A2"].value == datetime(2026, 3, 28, 10, 15)
    assert sheet["C6"].value is None  # the print server's job has no station
    assert sheet["E6"].value == 7


def test_daily(conn: sqlite3.Connection) -> None:
    rows = csv_of(conn, "daily")
    header = rows[0]
    sat = dict(zip(header, rows[1], strict=True))
    sun = dict(zip(header, rows[2], strict=True))
    assert sat["date"] == "2026-03-28"
    # Saturday: S1 60 + S2 30 + S3 75 minutes = 2.75 h; J1 + J2; H1, H2; two tickets
    assert (sat["sessions"], sat["sessions_pc"], sat["hours_used"]) == ("3", "3", "2.75")
    assert (sat["pages"], sat["pages_bw"], sat["pages_colour"]) == ("8", "7", "1")
    assert (sat["help_requests"], sat["visitors_queued"]) == ("2", "2")
    # Sunday: S4 60 + S5 20 = 1.33 h; the running S6 counts as started only
    assert (sun["sessions"], sun["sessions_tablet"], sun["hours_used"]) == ("3", "1", "1.33")
    sheet = xlsx_of(conn, "daily")["daily"]
    assert sheet["A2"].value == datetime(2026, 3, 28)  # openpyxl reads dates back as datetimes
    assert sheet["A2"].number_format == "yyyy-mm-dd"
    assert sheet["F2"].value == pytest.approx(2.75)
    assert sheet["F2"].number_format == "0.00"
    assert isinstance(sheet["C2"].value, int)


def test_hourly(conn: sqlite3.Connection) -> None:
    rows = csv_of(conn, "hourly", "2026-10-25", "2026-10-25")
    assert len(rows) == 1 + 7 * 24
    by_key = {(r[1], r[2]): r for r in rows[1:]}
    assert by_key[("Sun", "2")][3:] == ["1", "135"]  # A1 started, 02:xx lived twice
    assert by_key[("Sun", "1")][3:] == ["1", "15"]
    assert by_key[("Sun", "23")][3:] == ["1", "10"]


def test_annual_one_sheet(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "annual.xlsx"
    n = export(conn, "annual", "2026-01-01", "2026-12-31", "xlsx", path)
    assert n == 10
    book = load_workbook(path)
    assert book.sheetnames == ["annual"]
    sheet = book["annual"]
    assert [c.value for c in sheet[1]] == ["figure", "2026"]
    values = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(2, sheet.max_row + 1)}
    assert values["Sessions on PCs"] == 10
    assert values["Sessions on tablets"] == 2
    assert values["Sessions, all stations"] == 12
    assert "Hour equivalents (1 session = 60 min)" not in values  # it always equalled the sessions
    assert values["Hours used"] == pytest.approx(9.25)
    assert values["Pages printed, colour"] == 7
    assert isinstance(values["Pages printed"], int)
    assert values["Ways around the lock screen"] == 0  # the fixture's stations noticed none


def test_annual_several_years_has_total(conn: sqlite3.Connection) -> None:
    rows = csv_of(conn, "annual", "2025-06-01", "2026-12-31")
    assert rows[0] == ["figure", "2025-06-01/2025-12-31", "2026", "total"]
    assert rows[1] == ["Sessions on PCs", "0", "10", "10"]


def test_path_and_stream_give_the_same_csv(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    export(conn, "daily", *SPRING, "csv", path)
    stream = io.BytesIO()
    export(conn, "daily", *SPRING, "csv", stream)
    assert not stream.closed
    assert path.read_bytes() == stream.getvalue()


@pytest.mark.parametrize(
    ("what", "fmt", "dates", "message"),
    [
        ("people", "csv", SPRING, "what must be one of"),
        ("daily", "pdf", SPRING, "fmt must be one of"),
        ("daily", "csv", ("2026-03-29", "2026-03-28"), "after"),
        ("daily", "xlsx", ("yesterday", "2026-03-28"), "ISO date"),
    ],
)
def test_bad_arguments(
    conn: sqlite3.Connection, what: str, fmt: str, dates: tuple[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        export(conn, what, *dates, fmt, io.BytesIO())


def test_table_for_the_page(conn: sqlite3.Connection) -> None:
    table = build_table(conn, "daily", date(2026, 3, 28), date(2026, 3, 28), kind="tablet")
    assert table.rows[0][:5] == (date(2026, 3, 28), "Sat", 0, 0, 0)
    assert table.as_dict()["columns"][0] == "date"


def test_escapes_are_counted_once_each_per_what_and_kind_in_the_figures_and_the_annual_export(conn: sqlite3.Connection) -> None:
    from reports_fixture import local

    from controller.reports import figures

    rows = [("x1", "PC-01", "pc", local(2026, 3, 28, 9), "screen_missing"), ("x2", "PC-01", "pc", local(2026, 3, 28, 9, 5), "screen_missing"),
            ("x3", "TAB-01", "tablet", local(2026, 3, 29, 23, 59), "grab_failed"), ("x4", "PC-02", "pc", local(2026, 3, 30, 0, 1), "focus_lost")]
    for eid, station, kind, at, what in rows:
        conn.execute("INSERT INTO escapes VALUES (?,?,?,?,?,'none')", (eid, station, kind, at, what))
    with pytest.raises(sqlite3.IntegrityError):  # an event id is counted once
        conn.execute("INSERT INTO escapes VALUES ('x1','PC-01','pc',1,'screen_missing','none')")
    rep = figures.report(conn, "2026-03-28", "2026-03-29", "Europe/Brussels")
    assert rep.escapes.total == 3
    assert rep.escapes.by_what() == {"screen_missing": 2, "screen_closed": 0, "screen_closed_in_session": 0, "focus_lost": 0, "grab_failed": 1}
    assert rep.escapes.by_kind() == {"pc": 2, "tablet": 1}
    assert rep.as_dict()["escapes"]["total"] == 3
    tablets = figures.report(conn, "2026-03-28", "2026-03-29", "Europe/Brussels", kind="tablet")
    assert tablets.escapes.total == 1
    assert tablets.escapes.by_what()["grab_failed"] == 1
    assert figures.summary(conn, "2026-03-28", "2026-03-31", "Europe/Brussels").escapes == 4
    csv_rows = csv_of(conn, "annual", "2026-03-28", "2026-03-31")
    assert ["Ways around the lock screen", "4"] in csv_rows
