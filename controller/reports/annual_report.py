"""The one-click annual report: every figure the centre's annual report needs, as one XLSX workbook.

One sheet per section, each headed by the report's title, the site and the period, with its
labels in the reader's language (fr, nl, en):

1. summary — the annual block (sessions per kind, hours used, pages, help requests, visitors
   the queue served) and the note that sessions are the measure and visitors are not identified;
2. months — sessions per month, PCs and tablets;
3. occupancy — the share of station-hours used, per weekday and hour, per kind
   (:func:`controller.reports.usage.occupancy_rates`);
4. end reasons, 5. languages, 6. printers, 7. help and queue.

Numbers are typed cells (shares as percentages), so the back office can chart them as they are.
"""

from __future__ import annotations

import sqlite3
from datetime import date, tzinfo
from typing import Any, BinaryIO

from controller.reports.aggregate import KINDS
from controller.reports.figures import report, resolve_period, summary
from controller.reports.labels import WEEKDAY_IDS, check_lang
from controller.reports.usage import language_split, occupancy_rates
from controller.rules.hours import OpeningHours
from espace import protocol as p
from espace.i18n import translator

END_REASONS = (*p.END_REASONS, "unknown")
QUEUE_OUTCOMES = ("claimed", "no_show", "closed", "cancelled")


def sections(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    tz: str | tzinfo | None,
    lang: str,
    hours: OpeningHours | None = None,
) -> list[tuple[str, list[str], list[list[Any]], dict[int, str]]]:
    """``(sheet title, headers, rows, {column: number format})`` of every section, in ``lang``."""
    t = translator(check_lang(lang) or "fr")  # type: ignore[arg-type]
    lo_d, hi_d, zone, lo, hi = resolve_period(from_date, to_date, tz)
    rep = report(conn, lo_d, hi_d, zone)
    fig = summary(conn, lo_d, hi_d, zone)
    fig_, val = t("reports.col.figure"), t("reports.col.value")
    out: list[tuple[str, list[str], list[list[Any]], dict[int, str]]] = []

    out.append((
        t("report.sheet.summary"), [fig_, val],
        [[t(f"reports.annual.{key}"), value] for key, _, value in fig.lines()],
        {1: "#,##0.##"},
    ))  # fmt: skip

    months: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        for month, n in report(conn, lo_d, hi_d, zone, kind).sessions.per_month:
            months.setdefault(month, {})[kind] = n
    out.append((
        t("report.sheet.months"),
        [t("reports.col.period"), t("reports.kind.pc"), t("reports.kind.tablet"), t("reports.col.total")],
        [[m, v.get("pc", 0), v.get("tablet", 0), sum(v.values())] for m, v in sorted(months.items())],
        {},
    ))  # fmt: skip

    rates = occupancy_rates(conn, lo_d, hi_d, zone, hours=hours)
    used = sorted({h for r in rates for row in r.rate for h, v in enumerate(row) if v is not None}) or list(range(9, 17))
    cols = list(range(min(used), max(used) + 1))
    rows = []
    for r in rates:  # an hour the space was closed is an empty cell, not 0 %
        for d, row in enumerate(r.rate):
            rows.append([t(f"reports.kind.{r.kind}"), t(f"reports.weekday.{WEEKDAY_IDS[d]}"), *(row[h] for h in cols)])
    out.append((
        t("report.sheet.occupancy"), [t("reports.kind"), t("export.col.weekday"), *(f"{h}h" for h in cols)],
        rows, {i: "0%" for i in range(2, 2 + len(cols))},
    ))  # fmt: skip

    counts = dict(rep.sessions.end_reasons)
    total = sum(counts.values()) or 1
    reasons = [r for r in END_REASONS if r in counts] + sorted(set(counts) - set(END_REASONS))
    out.append((
        t("reports.end.title"), [t("export.col.end_reason"), t("reports.sessions.title"), t("report.col.share")],
        [[t(f"reports.end.{r}") if r in END_REASONS else r, counts[r], counts[r] / total] for r in reasons],
        {2: "0.0%"},
    ))  # fmt: skip

    langs = language_split(conn, lo, hi)
    total = sum(n for _, n in langs) or 1
    out.append((
        t("report.sheet.languages"), [t("export.col.lang"), t("reports.sessions.title"), t("report.col.share")],
        [[t(f"lang.{code}") if code in ("fr", "nl", "en") else code, n, n / total] for code, n in langs],
        {2: "0.0%"},
    ))  # fmt: skip

    pr = rep.prints
    out.append((
        t("reports.prints.title"),
        [t("reports.prints.printer"), t("reports.prints.jobs"), t("reports.prints.pages"), t("reports.prints.bw"), t("reports.prints.colour")],
        [[p.printer, p.jobs, p.pages, p.bw, p.colour] for p in pr.printers]
        + [[t("reports.col.total"), pr.jobs, pr.pages, pr.bw, pr.colour]],
        {},
    ))  # fmt: skip

    h, q = rep.help, rep.queue
    outcomes = dict(q.outcomes)
    minutes = lambda s: None if s is None else round(s / 60, 1)  # noqa: E731
    out.append((
        t("report.sheet.help_queue"), [fig_, val],
        [
            [t("reports.help.requested"), h.requested], [t("reports.help.answered"), h.answered],
            [t("reports.help.cancelled"), h.cancelled], [t("reports.help.unanswered"), h.unanswered],
            [t("report.help.median_minutes"), minutes(h.answer_seconds.median)],
            [t("reports.help.printer_alerts"), h.printer_alerts],
            [t("reports.queue.issued"), q.issued],
            *([t(f"reports.queue.{o}"), outcomes.get(o, 0)] for o in QUEUE_OUTCOMES),
            [t("report.queue.median_minutes"), minutes(q.wait_seconds.median)],
        ],
        {1: "#,##0.#"},
    ))  # fmt: skip

    # ways around the lock screen, counted without any visitor: per what the station noticed and station kind
    esc = rep.escapes
    per = {(w, k): n for w, k, n in esc.per_what_kind}
    whats = list(esc.by_what())
    kinds = list(esc.by_kind())
    said = lambda code, prefix: t(prefix + code) if t(prefix + code) != prefix + code else code  # noqa: E731
    out.append((
        t("report.sheet.escapes"),
        [t("reports.escapes.what"), *(said(k, "reports.kind.") for k in kinds), t("reports.col.total")],
        [[said(w, "reports.escape."), *(per.get((w, k), 0) for k in kinds), esc.by_what()[w]] for w in whats]
        + [[t("reports.col.total"), *esc.by_kind().values(), esc.total]],
        {},
    ))  # fmt: skip
    return out


def write_annual_report(
    conn: sqlite3.Connection,
    from_date: date | str,
    to_date: date | str,
    out: BinaryIO,
    tz: str | tzinfo | None,
    lang: str,
    site: str,
    hours: OpeningHours | None = None,
) -> int:
    """The workbook to ``out``; returns its number of sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    t = translator(check_lang(lang) or "fr")  # type: ignore[arg-type]
    lo_d, hi_d, *_ = resolve_period(from_date, to_date, tz)
    period = t("report.period", start=lo_d.isoformat(), end=hi_d.isoformat())
    book = Workbook(write_only=False)
    for blank in list(book.worksheets):  # the empty first sheet a new workbook comes with
        book.remove(blank)
    parts = sections(conn, lo_d, hi_d, tz, lang, hours)
    for title, headers, rows, formats in parts:
        sheet = book.create_sheet(_sheet_name(title))
        sheet.append([f"{t('report.title')} — {title}"])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.append([site])
        sheet.append([period])
        sheet.append([t("report.measure")])
        sheet.append([])
        sheet.append(headers)
        for cell in sheet[6]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
            for col, fmt in formats.items():
                sheet.cell(row=sheet.max_row, column=col + 1).number_format = fmt
        sheet.freeze_panes = "A7"
        sheet.column_dimensions["A"].width = max(18, *(len(str(r[0])) + 2 for r in rows)) if rows else 18
        for i in range(2, len(headers) + 1):
            sheet.column_dimensions[get_column_letter(i)].width = max(9, len(headers[i - 1]) + 2)
    book.save(out)
    return len(parts)


def _sheet_name(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\."""
    return "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
