"""CSV and XLSX exports of the back office's figures, by range of local dates.

``what`` is one of:

- ``sessions``: one row per session started in the range (station, kind,
  local start and end, minutes, end reason, origin, language, pages); never
  an id, never a person;
- ``prints``: one row per print job (local time, printer, station, kind, pages);
- ``daily``: one row per local day (sessions per kind, hours used, pages,
  help requests, visitors queued);
- ``hourly``: one row per local weekday x hour (sessions started, busy
  station-minutes);
- ``annual``: the annual-report block, one column per calendar year the
  range touches (plus a total when there are several), on one sheet.

Times are local wall-clock times without an offset, which Excel reads as
dates; the one ambiguous hour of a fall-back night reads twice. CSV is
UTF-8 with a byte-order mark so that Excel shows accents, comma-separated
(or, as the ``be`` dialect, ``;`` with a decimal comma), ISO dates. XLSX cells
are typed: dates as dates, numbers as numbers. Headers and codes are English
unless a language is asked for (:mod:`controller.reports.labels`).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from controller.reports.aggregate import WEEKDAYS, occupancy_of
from controller.reports.figures import (
    check_kind,
    fetch_intervals,
    fetch_sessions,
    per_local_day,
    resolve_period,
    summary,
)
from controller.reports.labels import check_dialect, csv_number, localize
from controller.reports.timebuckets import DEFAULT_TZ, Wall, day_number, days, utc_bounds

WHATS = ("sessions", "prints", "daily", "hourly", "annual")
FORMATS = ("csv", "xlsx")

# column type -> (xlsx number format, width)
_TYPES: dict[str, tuple[str | None, int]] = {
    "text": (None, 14),
    "int": ("0", 10),
    "float": ("0.00", 11),
    "number": (None, 14),
    "date": ("yyyy-mm-dd", 12),
    "datetime": ("yyyy-mm-dd hh:mm:ss", 20),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "text"
    width: int | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """What one export holds: a sheet name, typed columns and rows of plain values."""

    sheet: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "columns": [c.name for c in self.columns], "rows": self.rows}


def _cols(*spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec:
        name, _, kind = item.partition(":")
        out.append(Column(name, kind or "text"))
    return tuple(out)


def _local(instant: float | None, tz: tzinfo) -> datetime | None:
    if instant is None:
        return None
    return datetime.fromtimestamp(round(instant), tz).replace(tzinfo=None)


# -- the tables ----------------------------------------------------------------


def _sessions(
    conn: sqlite3.Connection, lo: float, hi: float, tz: tzinfo, kind: str | None
) -> Table:
    columns = _cols(
        "station", "kind", "start:datetime", "end:datetime", "minutes:int", "end_reason",
        "origin", "lang", "pages_bw:int", "pages_colour:int",
    )  # fmt: skip
    rows = [
        (
            s.station,
            s.kind,
            _local(s.start, tz),
            _local(s.end, tz),
            None if s.end is None else round(max(0.0, s.end - s.start) / 60),
            s.end_reason,
            s.origin,
            s.lang,
            s.pages_bw,
            s.pages_colour,
        )  # fmt: skip
        for s in fetch_sessions(conn, lo, hi, kind)
    ]
    return Table("sessions", columns, rows)


def _prints(conn: sqlite3.Connection, lo: float, hi: float, tz: tzinfo, kind: str | None) -> Table:
    columns = _cols(
        "time:datetime", "printer", "station", "kind", "pages:int", "pages_bw:int",
        "pages_colour:int", "source",
    )  # fmt: skip
    sql = (
        "SELECT p.at, p.printer, p.station, s.kind, p.pages, p.colour_pages, p.source "
        "FROM print_jobs p LEFT JOIN stations s ON s.id = p.station "
        "WHERE p.at >= ? AND p.at < ?"
    )
    args: list[Any] = [lo, hi]
    if kind is not None:
        sql += " AND s.kind = ?"
        args.append(kind)
    rows = [
        (_local(at, tz), printer, station, skind, pages, pages - colour, colour, source)
        for at, printer, station, skind, pages, colour, source in conn.execute(
            sql + " ORDER BY p.at", args
        )
    ]
    return Table("prints", columns, rows)


def _daily(
    conn: sqlite3.Connection, from_date: date, to_date: date, tz: tzinfo, kind: str | None
) -> Table:
    columns = _cols(
        "date:date", "weekday", "sessions:int", "sessions_pc:int", "sessions_tablet:int",
        "hours_used:float", "pages:int", "pages_bw:int", "pages_colour:int",
        "help_requests:int", "visitors_queued:int",
    )  # fmt: skip
    lo, hi = utc_bounds(from_date, to_date, tz)
    wall = Wall(lo, hi, tz)
    dates = list(days(from_date, to_date))
    first = day_number(from_date)
    n = len(dates)
    pc, tablet, secs = [0] * n, [0] * n, [0.0] * n
    pages, colour, helped, queued = [0] * n, [0] * n, [0] * n, [0] * n
    local_day = "CAST((t.{} + :o) / 86400 AS INTEGER)"
    only_kind = " AND t.station_kind = :kind" if kind else ""
    for day, k, count, used in per_local_day(
        conn,
        wall,
        f"SELECT {local_day.format('start')}, t.station_kind, COUNT(*), "
        'TOTAL(CASE WHEN t."end" > t.start THEN t."end" - t.start END) FROM sessions t '
        f"WHERE t.start >= :a AND t.start < :b{only_kind} GROUP BY 1, 2",
        {"kind": kind},
    ):
        (pc if k == "pc" else tablet)[day - first] += count
        secs[day - first] += used
    join = " JOIN stations s ON s.id = t.station AND s.kind = :kind" if kind else ""
    for day, p, c in per_local_day(
        conn,
        wall,
        f"SELECT {local_day.format('at')}, SUM(t.pages), SUM(t.colour_pages) "
        f"FROM print_jobs t{join} WHERE t.at >= :a AND t.at < :b GROUP BY 1",
        {"kind": kind},
    ):
        pages[day - first] += p
        colour[day - first] += c
    for day, count in per_local_day(
        conn,
        wall,
        f"SELECT {local_day.format('requested')}, COUNT(*) FROM help_requests t{join} "
        "WHERE t.kind = 'visitor' AND t.requested >= :a AND t.requested < :b GROUP BY 1",
        {"kind": kind},
    ):
        helped[day - first] += count
    for day, count in per_local_day(
        conn,
        wall,
        f"SELECT {local_day.format('issued')}, COUNT(*) FROM queue_waits t "
        "WHERE t.issued >= :a AND t.issued < :b AND t.outcome != 'cancelled' GROUP BY 1",
    ):
        queued[day - first] += count
    rows = [
        (
            d,
            WEEKDAYS[d.weekday()],
            pc[i] + tablet[i],
            pc[i],
            tablet[i],
            round(secs[i] / 3600, 2),
            pages[i],
            pages[i] - colour[i],
            colour[i],
            helped[i],
            queued[i],
        )  # fmt: skip
        for i, d in enumerate(dates)
    ]
    return Table("daily", columns, rows)


def _hourly(
    conn: sqlite3.Connection, from_date: date, to_date: date, tz: tzinfo, kind: str | None
) -> Table:
    columns = _cols(
        "weekday_number:int", "weekday", "hour:int", "sessions_started:int",
        "busy_station_minutes:int",
    )  # fmt: skip
    lo, hi = utc_bounds(from_date, to_date, tz)
    occ = occupancy_of(fetch_intervals(conn, lo, hi, kind), from_date, to_date, tz)
    rows = [
        (wd + 1, WEEKDAYS[wd], h, occ.sessions_started[wd][h], round(occ.minutes[wd][h]))
        for wd in range(7)
        for h in range(24)
    ]
    return Table("hourly", columns, rows)


def _annual(
    conn: sqlite3.Connection, from_date: date, to_date: date, tz: tzinfo, kind: str | None
) -> Table:
    segments: list[tuple[str, date, date]] = []
    for year in range(from_date.year, to_date.year + 1):
        lo, hi = max(from_date, date(year, 1, 1)), min(to_date, date(year, 12, 31))
        full = (lo, hi) == (date(year, 1, 1), date(year, 12, 31))
        segments.append((str(year) if full else f"{lo.isoformat()}/{hi.isoformat()}", lo, hi))
    blocks = [summary(conn, lo, hi, tz, kind).lines() for _, lo, hi in segments]
    names = [label for label, _, _ in segments]
    total = len(blocks) > 1
    columns = (Column("figure", "text", 40),) + tuple(Column(n, "number") for n in names)
    if total:
        columns += (Column("total", "number"),)
    rows: list[tuple[Any, ...]] = []
    for i, (_, label, _) in enumerate(blocks[0]):
        values = [block[i][2] for block in blocks]
        rows.append((label, *values, *([round(sum(values), 2)] if total else [])))
    return Table("annual", columns, rows)


def build_table(
    conn: sqlite3.Connection,
    what: str,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
) -> Table:
    """The rows of one export, before any file format."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)}, not {what!r}")
    lo_d, hi_d, zone_, lo, hi = resolve_period(from_date, to_date, tz)
    kind = check_kind(kind)
    if what == "sessions":
        return _sessions(conn, lo, hi, zone_, kind)
    if what == "prints":
        return _prints(conn, lo, hi, zone_, kind)
    if what == "daily":
        return _daily(conn, lo_d, hi_d, zone_, kind)
    if what == "hourly":
        return _hourly(conn, lo_d, hi_d, zone_, kind)
    return _annual(conn, lo_d, hi_d, zone_, kind)


# -- the formats ---------------------------------------------------------------


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula gets a leading ``'`` (OWASP's CSV-injection advice).

    Printer names come from the stations: ``=HYPERLINK(...)`` must reach the back office as text.
    Numbers and dates are left alone (a negative number is not text).
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value)


def write_csv(table: Table, out: BinaryIO, dialect: str = "comma") -> None:
    """``dialect``: ``comma`` (``,`` and ``.``) or ``be`` (``;`` and a decimal comma, as Excel set up
    for Belgium reads it); UTF-8 with a byte-order mark either way."""
    sep, decimal = check_dialect(dialect)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(text, delimiter=sep)
        writer.writerow([c.name for c in table.columns])
        writer.writerows([csv_number(_csv_value(v), decimal) for v in row] for row in table.rows)
        text.flush()
    finally:
        text.detach()  # leave the caller's stream open


def write_xlsx(table: Table, out: BinaryIO) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.sheet)
    sheet.freeze_panes = "A2"
    formats: list[str | None] = []
    for i, col in enumerate(table.columns, start=1):
        number_format, width = _TYPES[col.type]
        width = max(col.width or width, len(col.name) + 2)
        sheet.column_dimensions[get_column_letter(i)].width = width
        formats.append(number_format if col.type in ("float", "datetime") else None)
    bold = Font(bold=True)
    header = []
    for col in table.columns:
        cell = WriteOnlyCell(sheet, value=col.name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    if any(formats):
        for row in table.rows:
            cells: list[Any] = []
            for value, number_format in zip(row, formats, strict=True):
                if number_format and value is not None and not isinstance(value, str):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = number_format
                    cells.append(cell)
                else:
                    cells.append(neutralise(value))
            sheet.append(cells)
    else:
        for row in table.rows:
            sheet.append([neutralise(v) for v in row])
    book.save(out)


def export(
    conn: sqlite3.Connection,
    what: str,
    from_date: date | str,
    to_date: date | str,
    fmt: str,
    out: BinaryIO | Path,
    tz: str | tzinfo | None = DEFAULT_TZ,
    kind: str | None = None,
    lang: str | None = None,
    dialect: str = "comma",
) -> int:
    """Write one export to a binary stream or a file path; returns the number of data rows.

    ``lang`` (fr, nl, en) puts headers, weekdays, end reasons and figure names in that language
    (:func:`~controller.reports.labels.localize`); ``None`` keeps the English codes for scripts.
    ``dialect`` is the CSV's (:data:`~controller.reports.labels.DIALECTS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    check_dialect(dialect)
    table = localize(build_table(conn, what, from_date, to_date, tz, kind), lang)

    def writer(t: Table, stream: BinaryIO) -> None:
        if fmt == "csv":
            write_csv(t, stream, dialect)
        else:
            write_xlsx(t, stream)

    if isinstance(out, str | Path):
        with open(out, "wb") as stream:
            writer(table, stream)
    else:
        writer(table, out)
    return len(table.rows)
