"""The back office's reports page, its JSON and exports, and the daily retention task.

``setup(app)`` adds (called once by ``create_app``):

- ``GET /reports?from=YYYY-MM-DD&to=YYYY-MM-DD&kind=pc|tablet&lang=fr|nl|en``: one page,
  rendered here, with the figures as tables and server-side SVG charts (no script, no
  internet); the language is ``lang``, else the staff member's, else French;
- ``GET /api/reports/summary?from=&to=&kind=``: the same figures as JSON;
- ``GET /api/reports/export?what=sessions|prints|daily|hourly|annual&from=&to=&format=csv|xlsx&kind=``:
  a download named ``espace-<what>-<from>-<to>[-<kind>].<format>``;
- a ``cleanup_ctx`` that prunes raw events older than ``event_retention_days`` once a day
  of the injected clock (sessions, prints and help rows stay for the reports).

Who may: the staff middleware (:mod:`controller.web.auth`) gives ``/reports`` and
``/api/reports`` to the roles with the ``reports`` capability (backoffice, admin). The
figures are read on the store's reader threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from controller.cli_export import export_filename
from controller.reports import FORMATS, KINDS, WHATS, export, prune_events, report, summary
from controller.reports.annual_report import write_annual_report
from controller.reports.figures import AnnualFigures, Report
from controller.reports.labels import DIALECTS
from controller.reports.svg import bar_chart, hbar_chart, heat_map
from controller.reports.timebuckets import utc_bounds
from controller.reports.usage import Rates, language_split, occupancy_rates
from controller.station_rules import hours_of
from controller.web import keys
from controller.web.auth import SESSION_KEY
from controller.web.errors import json_error
from espace.i18n import LANGS, translator
from espace.protocol import END_REASONS

log = logging.getLogger(__name__)

DAY_S = 86400.0
DAILY_CHART_MAX_DAYS = 62  # longer periods are drawn per month
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # a period's bounds: no Espace data outside
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
END_REASON_ORDER = (*END_REASONS, "unknown")
WEEKDAY_IDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_BE"}
REPORT = "report"  # the one-click annual report workbook (controller.reports.annual_report)


class BadQuery(ValueError):
    """A query parameter that cannot be used; the text says which."""


# ---------------------------------------------------------------- query


def _today(request: web.Request) -> date:
    settings = request.app[keys.SETTINGS]
    return datetime.fromtimestamp(request.app[keys.CLOCK].now(), settings.tz).date()


def period(request: web.Request) -> tuple[date, date, str | None]:
    """``from``/``to`` (default: this year up to today) and ``kind`` (default: all)."""
    q = request.query
    today = _today(request)
    try:
        lo = date.fromisoformat(q.get("from") or date(today.year, 1, 1).isoformat())
        hi = date.fromisoformat(q.get("to") or today.isoformat())
    except ValueError:
        raise BadQuery("from and to must be dates as YYYY-MM-DD") from None
    if lo > hi:
        raise BadQuery("from must not be after to")
    if lo < FIRST_DAY or hi > LAST_DAY:  # 0001-01-01 and 9999-12-31 overflowed in UTC (500)
        raise BadQuery(f"from and to must be between {FIRST_DAY} and {LAST_DAY}")
    if (hi - lo).days > 366 * 20:
        raise BadQuery("the period may cover at most twenty years")
    kind = q.get("kind") or None
    if kind in ("all",):
        kind = None
    if kind is not None and kind not in KINDS:
        raise BadQuery(f"kind must be one of {', '.join(KINDS)}")
    return lo, hi, kind


def page_lang(request: web.Request) -> str:
    lang = request.query.get("lang")
    if lang in LANGS:
        return lang
    session = request.get(SESSION_KEY)
    if session is not None and session.lang in LANGS:
        return session.lang
    return "fr"


def _bad(exc: Exception) -> web.Response:
    return json_error(400, "bad_query", str(exc))


# ---------------------------------------------------------------- JSON and exports


async def summary_json(request: web.Request) -> web.Response:
    try:
        lo, hi, kind = period(request)
    except BadQuery as exc:
        return _bad(exc)
    tz = request.app[keys.SETTINGS].tz

    def read(db: Any) -> dict[str, Any]:
        return {
            **report(db.conn, lo, hi, tz, kind).as_dict(),
            "annual": summary(db.conn, lo, hi, tz, kind).as_dict(),
        }

    return web.json_response(await request.app[keys.STORE].read(read))


async def export_file(request: web.Request) -> web.Response:
    try:
        lo, hi, kind = period(request)
    except BadQuery as exc:
        return _bad(exc)
    what = request.query.get("what", "")
    fmt = request.query.get("format", "csv")
    lang = request.query.get("lang") or None
    dialect = request.query.get("dialect") or "comma"
    if what not in (*WHATS, REPORT):
        return _bad(BadQuery(f"what must be one of {', '.join((*WHATS, REPORT))}"))
    if what == REPORT:
        fmt, lang = "xlsx", lang or page_lang(request)  # the report is a workbook, always in words
    if fmt not in FORMATS:
        return _bad(BadQuery(f"format must be one of {', '.join(FORMATS)}"))
    if lang is not None and lang not in LANGS:
        return _bad(BadQuery(f"lang must be one of {', '.join(LANGS)}"))
    if dialect not in DIALECTS:
        return _bad(BadQuery(f"dialect must be one of {', '.join(DIALECTS)}"))
    settings = request.app[keys.SETTINGS]
    tz = settings.tz

    def build(db: Any) -> bytes:
        out = io.BytesIO()
        if what == REPORT:
            assert lang is not None
            write_annual_report(db.conn, lo, hi, out, tz, lang, settings.site_name, hours_of(settings))
        else:
            export(db.conn, what, lo, hi, fmt, out, tz, kind, lang, dialect)
        return out.getvalue()

    body = await request.app[keys.STORE].read(build)
    name = export_filename(what, lo, hi, kind, fmt)
    return web.Response(
        body=body,
        headers={
            "Content-Type": CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- the page


class Page:
    """Formatting for one language: numbers, durations, labels."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.t = translator(lang)

    def num(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        fmt = "#,##0" if digits == 0 else "#,##0." + "0" * digits
        return format_decimal(round(value, digits), format=fmt, locale=_LOCALES[self.lang])

    def minutes(self, minutes: float | None) -> str:
        return "—" if minutes is None else self.t("reports.unit.minutes", n=self.num(minutes, 1))

    def seconds_as_minutes(self, seconds: float | None) -> str:
        return self.minutes(None if seconds is None else seconds / 60)

    def chart_num(self, value: float) -> str:
        return self.num(value, 0 if float(value).is_integer() else 1)


def _table(
    caption: str,
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    cls: str = "",
    *,
    hide_caption: bool = False,
) -> str:
    """A table of text cells; the first cell of a row is its header. A caption that repeats
    its section's heading stays for screen readers only."""
    h = "".join(f'<th scope="col">{escape(c)}</th>' for c in head)
    body = []
    for row in rows:
        first, *rest = row
        cells = "".join(f'<td class="n">{escape(c)}</td>' for c in rest)
        body.append(f'<tr><th scope="row">{escape(first)}</th>{cells}</tr>')
    cap = ' class="sr"' if hide_caption else ""
    return (
        f'<table class="{cls}"><caption{cap}>{escape(caption)}</caption>'
        f"<thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _section(sid: str, title: str, *parts: str) -> str:
    return (
        f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{escape(title)}</h2>'
        + "".join(parts)
        + "</section>"
    )


def _scaled(svg: str, factor: float) -> str:
    """The chart drawn ``factor`` times larger (its viewBox keeps the drawing)."""
    match = re.search(r'width="(\d+)" height="(\d+)"', svg)
    if match is None:
        return svg
    w, h = (round(int(v) * factor) for v in match.groups())
    return svg[: match.start()] + f'width="{w}" height="{h}"' + svg[match.end() :]


def _figure(svg: str) -> str:
    return f'<figure class="chart">{svg}</figure>'


def annual_block(pg: Page, fig: AnnualFigures) -> str:
    t = pg.t
    rows = []
    for key, _, value in fig.lines():
        shown = pg.num(value, 2 if key == "hours_used" else 0)
        rows.append((t(f"reports.annual.{key}"), shown))
    return _table(
        t("reports.annual.caption", start=fig.from_date.isoformat(), end=fig.to_date.isoformat()),
        (t("reports.col.figure"), t("reports.col.value")),
        rows,
        "annual",
    )


def sessions_part(pg: Page, rep: Report) -> str:
    t, s = pg.t, rep.sessions
    d = s.duration_minutes
    kpis = [
        (t("reports.sessions.started"), pg.num(s.started)),
        (t("reports.annual.hours_used"), pg.num(s.hours_used, 1)),
        (t("reports.sessions.running"), pg.num(s.running)),
        (t("reports.sessions.mean"), pg.minutes(d.mean)),
        (t("reports.sessions.median"), pg.minutes(d.median)),
        (t("reports.sessions.p90"), pg.minutes(d.p90)),
    ]
    tiles = "".join(
        f'<div class="kpi"><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>' for k, v in kpis
    )
    n_days = (rep.to_date - rep.from_date).days + 1
    if n_days <= DAILY_CHART_MAX_DAYS:
        periods, title, cid = s.per_day, t("reports.chart.per_day"), "per-day"
        labels = [p[5:] for p, _ in periods]  # MM-DD
    else:
        periods, title, cid = s.per_month, t("reports.chart.per_month"), "per-month"
        labels = [p for p, _ in periods]
    values = [n for _, n in periods]
    desc = t("reports.chart.sessions_desc", total=pg.num(sum(values)), n=len(values))
    chart = bar_chart(
        labels, values, title=title, desc=desc, chart_id=cid, width=960, fmt=pg.chart_num
    )
    per_kind = _table(
        t("reports.sessions.per_kind"),
        (t("reports.kind"), t("reports.sessions.started")),
        [(t(f"reports.kind.{k}"), pg.num(n)) for k, n in s.per_kind],
        "small",
    )
    per_year = ""
    if len(s.per_year) > 1:
        per_year = _table(
            t("reports.sessions.per_year"),
            (t("reports.col.period"), t("reports.sessions.started")),
            [(y, pg.num(n)) for y, n in s.per_year],
            "small",
        )
    return _section(
        "sessions",
        t("reports.sessions.title"),
        f'<dl class="kpis">{tiles}</dl>',
        _figure(chart),
        f'<div class="side-by-side">{per_kind}{per_year}</div>',
    )


def occupancy_part(pg: Page, rep: Report) -> str:
    t = pg.t
    hours = [[m / 60 for m in row] for row in rep.occupancy.minutes]
    busy = [h for h in range(24) if any(row[h] > 0 for row in hours)] or list(range(9, 17))
    cols = list(range(min(busy), max(busy) + 1))
    matrix = [[round(row[h], 1) for h in cols] for row in hours]
    days_ = [t(f"reports.weekday.{w}") for w in WEEKDAY_IDS]
    total = sum(map(sum, hours))
    chart = heat_map(
        matrix,
        row_labels=days_,
        col_labels=[f"{h}h" for h in cols],
        title=t("reports.occupancy.title"),
        desc=t("reports.occupancy.desc", first=cols[0], last=cols[-1], total=pg.num(total, 1)),
        chart_id="occupancy",
        fmt=lambda v: pg.num(v, 1 if 0 < v < 1 else 0),  # a light cell never reads "0"
    )
    chart = _scaled(chart, 1.5)  # small cells: drawn larger, text included
    return _section(
        "occupancy",
        t("reports.occupancy.title"),
        f'<p class="note">{escape(t("reports.occupancy.note"))}</p>',
        _figure(chart),
    )


def end_reasons_part(pg: Page, rep: Report) -> str:
    t = pg.t
    counts = dict(rep.sessions.end_reasons)
    reasons = [r for r in END_REASON_ORDER if r in counts] + sorted(
        r for r in counts if r not in END_REASON_ORDER
    )
    labels = [t(f"reports.end.{r}") if r in END_REASON_ORDER else r for r in reasons]
    values = [counts[r] for r in reasons]
    chart = hbar_chart(
        labels,
        [(t("reports.sessions.title"), values)],
        title=t("reports.end.title"),
        desc=t("reports.end.title")
        + ": "
        + ", ".join(f"{a} {b}" for a, b in zip(labels, values, strict=True)),
        chart_id="end-reasons",
        width=620,
        fmt=pg.chart_num,
    )
    return _section("end-reasons", t("reports.end.title"), _figure(chart))


def prints_part(pg: Page, rep: Report) -> str:
    t, pr = pg.t, rep.prints
    parts = []
    if pr.printers:
        chart = hbar_chart(
            [x.printer for x in pr.printers],
            [
                (t("reports.prints.bw"), [x.bw for x in pr.printers]),
                (t("reports.prints.colour"), [x.colour for x in pr.printers]),
            ],
            title=t("reports.prints.title"),
            desc=t(
                "reports.prints.desc",
                pages=pg.num(pr.pages),
                bw=pg.num(pr.bw),
                colour=pg.num(pr.colour),
            ),
            chart_id="printers",
            width=620,
            fmt=pg.chart_num,
        )
        parts.append(_figure(chart))
    rows = [
        (x.printer, pg.num(x.jobs), pg.num(x.pages), pg.num(x.bw), pg.num(x.colour))
        for x in pr.printers
    ]
    rows.append(
        (
            t("reports.col.total"),
            pg.num(pr.jobs),
            pg.num(pr.pages),
            pg.num(pr.bw),
            pg.num(pr.colour),
        )
    )
    parts.append(
        _table(
            t("reports.prints.title"),
            (
                t("reports.prints.printer"),
                t("reports.prints.jobs"),
                t("reports.prints.pages"),
                t("reports.prints.bw"),
                t("reports.prints.colour"),
            ),
            rows,
            "with-total",
            hide_caption=True,
        )
    )
    return _section("prints", t("reports.prints.title"), *parts)


def help_queue_part(pg: Page, rep: Report) -> str:
    t, h, q = pg.t, rep.help, rep.queue
    help_rows = [
        (t("reports.help.requested"), pg.num(h.requested)),
        (t("reports.help.answered"), pg.num(h.answered)),
        (t("reports.help.cancelled"), pg.num(h.cancelled)),
        (t("reports.help.unanswered"), pg.num(h.unanswered)),
        (t("reports.help.median_answer"), pg.seconds_as_minutes(h.answer_seconds.median)),
        (t("reports.help.p90_answer"), pg.seconds_as_minutes(h.answer_seconds.p90)),
        (t("reports.help.printer_alerts"), pg.num(h.printer_alerts)),
    ]
    outcomes = dict(q.outcomes)
    queue_rows = [
        (t("reports.queue.issued"), pg.num(q.issued)),
        *(
            (t(f"reports.queue.{o}"), pg.num(outcomes.get(o, 0)))
            for o in ("claimed", "no_show", "closed", "cancelled")
        ),
        (t("reports.queue.median_wait"), pg.seconds_as_minutes(q.wait_seconds.median)),
        (t("reports.queue.p90_wait"), pg.seconds_as_minutes(q.wait_seconds.p90)),
    ]
    head = (t("reports.col.figure"), t("reports.col.value"))
    return (
        '<div class="side-by-side">'
        + _section(
            "help",
            t("reports.help.title"),
            _table(t("reports.help.title"), head, help_rows, "small", hide_caption=True),
        )
        + _section(
            "queue",
            t("reports.queue.title"),
            _table(t("reports.queue.note"), head, queue_rows, "small"),
        )
        + "</div>"
    )


def escapes_part(pg: Page, rep: Report) -> str:
    """Ways around the lock screen the stations noticed, per what and station kind (anonymous counts)."""
    t, esc = pg.t, rep.escapes
    per = {(w, k): n for w, k, n in esc.per_what_kind}
    kinds = list(esc.by_kind())
    rows = [
        (t(f"reports.escape.{w}"), *(pg.num(per.get((w, k), 0)) for k in kinds), pg.num(n))
        for w, n in esc.by_what().items()
    ]
    rows.append((t("reports.col.total"), *(pg.num(n) for n in esc.by_kind().values()), pg.num(esc.total)))
    head = (t("reports.escapes.what"), *(t(f"reports.kind.{k}") for k in kinds), t("reports.col.total"))
    title = t("report.sheet.escapes")
    return _section("escapes", title, _table(title, head, rows, "with-total", hide_caption=True))


def filter_form(pg: Page, lo: date, hi: date, kind: str | None) -> str:
    t = pg.t
    options = "".join(
        f'<option value="{v}"{" selected" if (kind or "") == v else ""}>{escape(t(label))}</option>'
        for v, label in (
            ("", "reports.kind.all"),
            ("pc", "reports.kind.pc"),
            ("tablet", "reports.kind.tablet"),
        )
    )
    return (
        f'<form class="filters" method="get" action="/reports">'
        f'<input type="hidden" name="lang" value="{pg.lang}">'
        f'<label>{escape(t("reports.from"))} <input type="date" name="from" value="{lo.isoformat()}" required></label>'
        f'<label>{escape(t("reports.to"))} <input type="date" name="to" value="{hi.isoformat()}" required></label>'
        f'<label>{escape(t("reports.kind"))} <select name="kind">{options}</select></label>'
        f'<button type="submit" class="primary">{escape(t("reports.show"))}</button>'
        "</form>"
    )


def export_links(pg: Page, lo: date, hi: date, kind: str | None) -> str:
    """Every export in the page's language: XLSX (recommended), CSV for Excel set up for
    Belgium (``;``, decimal comma), plain CSV; and the one-click annual report."""
    t = pg.t
    base = f"/api/reports/export?from={lo.isoformat()}&amp;to={hi.isoformat()}&amp;lang={pg.lang}"
    base += f"&amp;kind={kind}" if kind else ""
    variants = (
        ("format=xlsx", "XLSX"),
        ("format=csv&amp;dialect=be", t("reports.export.csv_be")),
        ("format=csv", t("reports.export.csv_plain")),
    )
    items = [
        f'<li class="report"><a href="{base}&amp;what={REPORT}" download>{escape(t("reports.export.report"))}</a></li>'
    ]
    for what in WHATS:
        links = " ".join(
            f'<a href="{base}&amp;what={what}&amp;{q}" download>{escape(label)}</a>' for q, label in variants
        )
        items.append(f"<li><span>{escape(t(f'reports.export.{what}'))}</span> {links}</li>")
    return _section(
        "exports",
        t("reports.export.title"),
        f'<p class="note">{escape(t("reports.export.hint"))}</p>',
        f'<ul class="exports">{"".join(items)}</ul>',
    )


def rate_part(pg: Page, rates: list[Rates], lang_rows: list[tuple[str, int]]) -> str:
    """Occupancy against capacity per hour of the week and kind, and the sessions' languages."""
    t = pg.t
    days_ = [t(f"reports.weekday.{w}") for w in WEEKDAY_IDS]
    used = sorted({h for r in rates for row in r.rate for h, v in enumerate(row) if v is not None}) or list(range(9, 17))
    cols = list(range(min(used), max(used) + 1))
    pct = lambda v: "—" if v is None else pg.num(v * 100) + " %"  # noqa: E731 - None: closed that hour
    tables = []
    for r in rates:
        rows = [(days_[d], *(pct(row[h]) for h in cols)) for d, row in enumerate(r.rate)]
        d, h, v = r.busiest()
        caption = t(f"reports.kind.{r.kind}") + " — " + t("reports.rate.busiest", day=days_[d], hour=h, rate=pct(v))
        tables.append(_table(caption, ("", *(f"{c}h" for c in cols)), rows, "rates"))
    n = {r.kind: r.stations for r in rates}
    total = sum(c for _, c in lang_rows) or 1
    langs = _table(
        t("reports.languages.title"),
        (t("export.col.lang"), t("reports.sessions.title"), t("report.col.share")),
        [(t(f"lang.{code}") if code in LANGS else code, pg.num(c), pct(c / total)) for code, c in lang_rows],
        "small",
        hide_caption=True,
    )
    return _section(
        "rates",
        t("reports.rate.title"),
        f'<p class="note">{escape(t("reports.rate.note", pc=n.get("pc", 0), tablet=n.get("tablet", 0)))}</p>',
        '<div class="scroll">' + "".join(tables) + "</div>",
    ) + _section("languages", t("reports.languages.title"), langs)


def lang_links(pg: Page, request: web.Request) -> str:
    out = []
    for lang in LANGS:
        query = {**request.query, "lang": lang}
        href = escape(str(request.rel_url.with_query(query)))
        current = ' aria-current="true"' if lang == pg.lang else ""
        out.append(f'<a href="{href}" lang="{lang}"{current}>{lang.upper()}</a>')
    return (
        f'<nav class="langs" aria-label="{escape(pg.t("reports.language"))}">{"".join(out)}</nav>'
    )


def render_page(
    request: web.Request,
    pg: Page,
    rep: Report,
    fig: AnnualFigures,
    lo: date,
    hi: date,
    kind: str | None,
    usage: tuple[list[Rates], list[tuple[str, int]]] = ([], []),
) -> str:
    t = pg.t
    site = request.app[keys.SETTINGS].site_name
    kind_label = t(f"reports.kind.{kind}") if kind else t("reports.kind.all")
    subtitle = t("reports.subtitle", start=lo.isoformat(), end=hi.isoformat(), kind=kind_label)
    body = "".join(
        [
            f'<header class="top"><h1>{escape(t("reports.title"))}</h1>'
            f'<span class="site">{escape(site)}</span>'
            f'<a class="nav" href="/floor">{escape(t("reports.nav.floor"))}</a>{lang_links(pg, request)}</header>',
            '<main id="main">',
            filter_form(pg, lo, hi, kind),
            f'<p class="subtitle">{escape(subtitle)}</p>',
            f'<p class="note measure">{escape(t("reports.measure"))}</p>',
            _section("annual", t("reports.annual.title"), annual_block(pg, fig)),
            sessions_part(pg, rep),
            occupancy_part(pg, rep),
            rate_part(pg, *usage),
            '<div class="side-by-side">',
            end_reasons_part(pg, rep),
            prints_part(pg, rep),
            "</div>",
            help_queue_part(pg, rep),
            escapes_part(pg, rep),
            export_links(pg, lo, hi, kind),
            f'<p class="note">{escape(t("reports.anonymous"))}</p>',
            "</main>",
        ]
    )
    return (
        f'<!doctype html><html lang="{pg.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t('reports.title'))} — {escape(site)}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/reports.css"></head>'
        f"<body>{body}</body></html>"
    )


async def reports_page(request: web.Request) -> web.Response:
    pg = Page(page_lang(request))
    try:
        lo, hi, kind = period(request)
    except BadQuery:
        raise web.HTTPFound("/reports") from None
    settings = request.app[keys.SETTINGS]
    tz, hours = settings.tz, hours_of(settings)
    kinds = (kind,) if kind else KINDS

    def read(db: Any) -> tuple[Report, AnnualFigures, tuple[list[Rates], list[tuple[str, int]]]]:
        lo_s, hi_s = utc_bounds(lo, hi, tz)
        usage = (occupancy_rates(db.conn, lo, hi, tz, kinds, hours), language_split(db.conn, lo_s, hi_s, kind))
        return report(db.conn, lo, hi, tz, kind), summary(db.conn, lo, hi, tz, kind), usage

    rep, fig, usage = await request.app[keys.STORE].read(read)
    html = render_page(request, pg, rep, fig, lo, hi, kind, usage)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'none'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- retention


async def prune_once(app: web.Application) -> int:
    days = app[keys.SETTINGS].event_retention_days
    now = app[keys.CLOCK].now()
    # prune_events commits on the connection it gets: a reader's, not the writer's batch
    gone = await app[keys.STORE].read(lambda db: prune_events(db.conn, days, now))
    if gone:
        log.info("retention: pruned %d raw events older than %d days", gone, days)
    return gone


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    clock = app[keys.CLOCK]

    async def daily() -> None:
        while True:
            try:
                await prune_once(app)
            except Exception:
                log.exception("retention: pruning failed; tried again tomorrow")
            await clock.sleep(DAY_S)

    task = asyncio.create_task(daily(), name="event-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup(app: web.Application) -> None:
    """Add the reports routes and the retention task to ``app`` (called once by ``create_app``)."""
    app.cleanup_ctx.append(_retention_ctx)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/api/reports/summary", summary_json)
    app.router.add_get("/api/reports/export", export_file)
