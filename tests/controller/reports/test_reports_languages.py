"""Exports in the reader's language and CSV for Excel set up for Belgium, read back as the back office would."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from reports_fixture import build

from controller.reports import export
from controller.reports.annual_report import write_annual_report
from espace.i18n import catalog

SPRING = ("2026-03-28", "2026-03-29")  # Saturday and Sunday


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = build()
    yield c
    c.close()


def test_a_belgian_csv_in_french_opens_as_columns_with_decimal_commas(conn: sqlite3.Connection) -> None:
    out = io.BytesIO()
    export(conn, "daily", *SPRING, "csv", out, lang="fr", dialect="be")
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel shows the accents
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    fr = catalog("fr")
    assert rows[0][:3] == [fr["export.col.date"], fr["export.col.weekday"], fr["export.col.sessions"]]
    assert rows[0][5] == "Heures utilisées"
    assert [r[1] for r in rows[1:]] == [fr["reports.weekday.sat"], fr["reports.weekday.sun"]]
    hours = [r[5] for r in rows[1:]]
    assert any("," in h for h in hours), hours  # 1,5 not 1.5
    assert not any("." in h for h in hours), hours


def test_sessions_in_dutch_say_end_reasons_and_kinds_in_dutch(conn: sqlite3.Connection) -> None:
    out = io.BytesIO()
    export(conn, "sessions", *SPRING, "xlsx", out, lang="nl")
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet is not None
    nl = catalog("nl")
    head = [c.value for c in sheet[1]]
    assert head[:2] == [nl["export.col.station"], nl["export.col.kind"]]
    reasons = {row[5] for row in sheet.iter_rows(min_row=2, values_only=True)}
    codes = ("time", "closing", "booking", "visitor", "idle", "steward", "station_restart", "unknown")
    assert reasons - {None}
    assert reasons <= {nl[f"reports.end.{r}"] for r in codes} | {None}
    assert not reasons & set(codes)  # no English code left
    assert {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)} <= {nl["reports.kind.pc"], nl["reports.kind.tablet"]}


def test_without_a_language_the_codes_stay_for_scripts(conn: sqlite3.Connection) -> None:
    out = io.BytesIO()
    export(conn, "daily", *SPRING, "csv", out)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[0][:2] == ["date", "weekday"]
    assert rows[1][1] == "Sat"


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_the_annual_report_workbook_has_a_sheet_per_section_in_the_readers_language(conn: sqlite3.Connection, tmp_path: Path, lang: str) -> None:
    path = tmp_path / f"report-{lang}.xlsx"
    with path.open("wb") as out:
        sheets = write_annual_report(conn, "2026-01-01", "2026-12-31", out, "Europe/Brussels", lang, "Cité des métiers")
    cat = catalog(lang)
    book = load_workbook(path)
    assert len(book.sheetnames) == sheets == 8
    assert book.sheetnames[0] == cat["report.sheet.summary"]
    for sheet in book.worksheets:
        assert str(sheet["A1"].value).startswith(cat["report.title"])
        assert sheet["A2"].value == "Cité des métiers"
        assert sheet["A3"].value == cat["report.period"].format(start="2026-01-01", end="2026-12-31")
    summary = {r[0]: r[1] for r in book.worksheets[0].iter_rows(min_row=7, values_only=True)}
    assert summary[cat["reports.annual.sessions_pc"]] == 10  # as test_reports_export's annual block
    assert cat["reports.annual.hour_equivalents"] not in summary
    occupancy = book[cat["report.sheet.occupancy"][:31]]
    rates = [v for row in occupancy.iter_rows(min_row=7, min_col=3, values_only=True) for v in row]
    assert all(isinstance(v, int | float) and 0 <= v <= 1 for v in rates)  # 0.0 reads back as 0
    assert any(v > 0 for v in rates)
    assert occupancy.cell(7, 3).number_format == "0%"


def test_the_cli_writes_the_report_and_a_belgian_csv_in_the_asked_language(conn: sqlite3.Connection, tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "espace.db"
    with sqlite3.connect(db) as copy:
        conn.backup(copy)
    import os

    root = Path(__file__).resolve().parents[3]  # this checkout's code, not the installed one
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = [sys.executable, "-m", "controller.cli", "export", "--database", str(db), "--from", "2026-01-01", "--to", "2026-12-31"]
    done = subprocess.run([*run, "--what", "report", "--lang", "nl", "-o", str(tmp_path / "r.xlsx")], capture_output=True, text=True, check=False, env=env, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "8 sheets" in done.stderr
    assert load_workbook(tmp_path / "r.xlsx").sheetnames[0] == catalog("nl")["report.sheet.summary"]
    done = subprocess.run([*run, "--what", "hourly", "--lang", "fr", "--dialect", "be", "-o", "-"], capture_output=True, check=False, env=env, cwd=root)
    assert done.returncode == 0, done.stderr
    head = done.stdout.decode("utf-8-sig").splitlines()[0]
    assert head.split(";")[:3] == ["N° du jour", "Jour", "Heure"]
    done = subprocess.run([*run, "--lang", "de"], capture_output=True, text=True, check=False, env=env, cwd=root)
    assert done.returncode == 2  # argparse refuses it, saying the choices
    assert "fr" in done.stderr


def _escape(conn: sqlite3.Connection, eid: str, station: str, at: float, what: str, action: str = "logged_off") -> None:
    kind = "tablet" if station.startswith("TAB") else "pc"
    conn.execute("INSERT INTO escapes (id, station, station_kind, at, what, action) VALUES (?,?,?,?,?,?)", (eid, station, kind, at, what, action))


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_the_annual_report_counts_lock_screen_escapes_per_what_and_kind_in_the_readers_language(conn: sqlite3.Connection, tmp_path: Path, lang: str) -> None:
    from reports_fixture import local

    _escape(conn, "x1", "PC-01", local(2026, 3, 28, 10), "screen_closed", "logged_off")
    _escape(conn, "x2", "PC-02", local(2026, 3, 28, 11), "screen_closed")
    _escape(conn, "x3", "TAB-01", local(2026, 6, 2, 15), "focus_lost", "refocused")
    _escape(conn, "x4", "PC-01", local(2027, 1, 1, 10), "grab_failed")  # next year: not counted
    path = tmp_path / f"report-{lang}.xlsx"
    with path.open("wb") as out:
        write_annual_report(conn, "2026-01-01", "2026-12-31", out, "Europe/Brussels", lang, "Cité des métiers")
    cat = catalog(lang)
    book = load_workbook(path)
    summary = {r[0]: r[1] for r in book.worksheets[0].iter_rows(min_row=7, values_only=True)}
    assert summary[cat["reports.annual.escapes"]] == 3
    sheet = book[cat["report.sheet.escapes"][:31]]
    rows = list(sheet.iter_rows(min_row=6, values_only=True))
    assert rows[0] == (cat["reports.escapes.what"], cat["reports.kind.pc"], cat["reports.kind.tablet"], cat["reports.col.total"])
    table = {r[0]: r[1:] for r in rows[1:]}
    assert table[cat["reports.escape.screen_closed"]] == (2, 0, 2)
    assert table[cat["reports.escape.focus_lost"]] == (0, 1, 1)
    assert table[cat["reports.escape.grab_failed"]] == (0, 0, 0)
    assert table[cat["reports.col.total"]] == (2, 1, 3)
    assert len(table) == 6  # the five of the protocol, then the total
