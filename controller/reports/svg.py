"""Server-side SVG charts for the reports page: no JavaScript, no internet.

Each function returns one standalone ``<svg>`` string with a ``<title>`` and a
``<desc>`` (referenced by ``aria-labelledby``), a ``<title>`` tooltip on every
bar or cell, and values written as text where they fit. Colours come from
the Okabe-Ito palette and a light-to-dark viridis ramp, both readable with
the common colour-vision deficiencies. All text is escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

from controller.reports.aggregate import WEEKDAYS, Occupancy, PrintFigures

# Okabe & Ito (2008), "Color Universal Design"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
# viridis, light to dark; text turns white from index 4 on
RAMP = ("#fde725", "#b5de2b", "#6ece58", "#35b779", "#1f9e89", "#26828e", "#31688e", "#3e4989")
EMPTY = "#f2f2f2"
INK = "#222222"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'

Formatter = Callable[[float], str]


def number(value: float) -> str:
    """1234 -> '1234', 2.25 -> '2.3' (the page can pass a Babel formatter instead)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _id(chart_id: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id) or "chart"
    return cleaned if cleaned[0].isalpha() else f"c-{cleaned}"


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    cid = _id(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" {FONT}>',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc or title)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 4, 6, 8, 10):  # a quarter of each is a round number
        if value <= step * exp:
            return step * exp
    return 10 * exp


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    desc: str = "",
    chart_id: str = "bars",
    unit: str = "",
    width: int = 720,
    height: int = 280,
    fmt: Formatter = number,
) -> str:
    """Vertical bars, e.g. sessions per day or per month."""
    if len(labels) != len(values):
        raise ValueError("labels and values differ in length")
    left, right, top, bottom = 48, 12, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(values, default=0))
    parts = _open(chart_id, width, height, title, desc)
    for i in range(5):  # grid and scale
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dddddd"/>'
        )
        parts.append(_text(left - 6, y + 4, fmt(v), text_anchor="end", fill=INK))
    if unit:
        parts.append(_text(4, top - 4, unit, fill=INK))
    n = max(1, len(values))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.8)
    label_every = math.ceil(n / 24)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * max(0.0, value) / top_value
        y = top + plot_h - h
        tip = f"{label}: {fmt(value)}{(' ' + unit) if unit else ''}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{escape(tip)}</title></rect>'
        )
        if bar_w >= 14:  # room for the value over the bar
            parts.append(_text(x + bar_w / 2, y - 3, fmt(value), text_anchor="middle", fill=INK))
        if i % label_every == 0:
            parts.append(
                _text(x + bar_w / 2, top + plot_h + 16, label, text_anchor="middle", fill=INK)
            )
    parts.append("</svg>")
    return "\n".join(parts)


def hbar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    desc: str = "",
    chart_id: str = "hbars",
    unit: str = "",
    width: int = 560,
    fmt: Formatter = number,
) -> str:
    """Horizontal bars, one group per label, one bar per series (e.g. end reasons;
    pages per printer with black-and-white and colour series). A legend shows
    when there is more than one series."""
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    bar_h, gap = 18, 10
    legend_h = 22 if len(series) > 1 else 0
    left, right, top = 150, 60, 10 + legend_h
    group_h = bar_h * max(1, len(series)) + gap
    height = top + group_h * max(1, len(labels)) + 10
    plot_w = width - left - right
    top_value = max((v for _, vals in series for v in vals), default=0) or 1
    parts = _open(chart_id, width, height, title, desc)
    for s, (name, _) in enumerate(series if legend_h else ()):
        x = left + s * 140
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{PALETTE[s % 7]}"/>')
        parts.append(_text(x + 16, 18, name, fill=INK))
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        parts.append(_text(left - 8, y0 + group_h / 2 + 2, label, text_anchor="end", fill=INK))
        for s, (name, values) in enumerate(series):
            value = values[i]
            w = plot_w * max(0.0, value) / top_value
            y = y0 + s * bar_h
            tip = f"{label}, {name}: {fmt(value)}{(' ' + unit) if unit else ''}"
            parts.append(
                f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 3}" '
                f'fill="{PALETTE[s % 7]}"><title>{escape(tip)}</title></rect>'
            )
            parts.append(_text(left + w + 4, y + bar_h - 6, fmt(value), fill=INK))
    parts.append("</svg>")
    return "\n".join(parts)


def heat_map(
    matrix: Sequence[Sequence[float]],
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    desc: str = "",
    chart_id: str = "heat",
    unit: str = "",
    fmt: Formatter = number,
) -> str:
    """A grid of shaded cells, e.g. occupancy by weekday (rows) and hour (columns)."""
    if len(matrix) != len(row_labels) or any(len(r) != len(col_labels) for r in matrix):
        raise ValueError("matrix shape does not match the labels")
    cell_w, cell_h, left, top = 30, 24, 48, 22
    width = left + cell_w * len(col_labels) + 10
    height = top + cell_h * len(row_labels) + 40
    top_value = max((v for row in matrix for v in row), default=0)
    parts = _open(chart_id, width, height, title, desc)
    for c, label in enumerate(col_labels):
        parts.append(
            _text(left + c * cell_w + cell_w / 2, top - 6, label, text_anchor="middle", fill=INK)
        )
    for r, (label, row) in enumerate(zip(row_labels, matrix, strict=True)):
        y = top + r * cell_h
        parts.append(_text(left - 6, y + cell_h / 2 + 4, label, text_anchor="end", fill=INK))
        for c, value in enumerate(row):
            x = left + c * cell_w
            if value > 0 and top_value > 0:
                shade = min(len(RAMP) - 1, int(value / top_value * (len(RAMP) - 1) + 0.5))
                fill, ink = RAMP[shade], ("#ffffff" if shade >= 4 else INK)
            else:
                fill, ink = EMPTY, INK
            tip = f"{label} {col_labels[c]}: {fmt(value)}{(' ' + unit) if unit else ''}"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            if value > 0:
                parts.append(
                    _text(
                        x + cell_w / 2,
                        y + cell_h / 2 + 4,
                        fmt(value),
                        text_anchor="middle",
                        font_size="9",
                        fill=ink,
                    )
                )
    legend_y = top + cell_h * len(row_labels) + 14
    for i, colour in enumerate(RAMP):
        parts.append(
            f'<rect x="{left + i * 24}" y="{legend_y}" width="24" height="10" fill="{colour}"/>'
        )
    parts.append(
        _text(
            left + len(RAMP) * 24 + 6,
            legend_y + 9,
            f"0 – {fmt(top_value)}{(' ' + unit) if unit else ''}",
            fill=INK,
        )
    )
    parts.append("</svg>")
    return "\n".join(parts)


# -- the reports page's charts, from the figures ------------------------------


def sessions_chart(
    periods: Sequence[tuple[str, int]],
    *,
    title: str = "Sessions started",
    chart_id: str = "sessions",
) -> str:
    """Sessions per day, week, month or year (``SessionFigures.per_day`` and friends)."""
    total = sum(n for _, n in periods)
    desc = title
    if periods:
        desc += f": {total} from {periods[0][0]} to {periods[-1][0]}, {len(periods)} periods."
    labels, values = [p for p, _ in periods], [n for _, n in periods]
    return bar_chart(labels, values, title=title, desc=desc, chart_id=chart_id)


def occupancy_chart(
    occupancy: Occupancy,
    *,
    title: str = "Occupancy by hour and weekday (station-hours)",
    chart_id: str = "occupancy",
) -> str:
    """Busy station-hours per local weekday and hour; columns trimmed to the busy hours."""
    hours = [[m / 60 for m in row] for row in occupancy.minutes]
    busy = [h for h in range(24) if any(row[h] > 0 for row in hours)] or [9, 16]
    cols = list(range(min(busy), max(busy) + 1))
    matrix = [[round(row[h], 1) for h in cols] for row in hours]
    desc = (
        f"{title}. Rows: weekdays Monday to Sunday; columns: local hours "
        f"{cols[0]}h to {cols[-1]}h; total {number(round(sum(map(sum, hours)), 1))} station-hours."
    )
    return heat_map(
        matrix,
        row_labels=WEEKDAYS,
        col_labels=[f"{h}h" for h in cols],
        title=title,
        desc=desc,
        chart_id=chart_id,
        fmt=lambda v: str(round(v)),
    )


def end_reasons_chart(
    end_reasons: Sequence[tuple[str, int]],
    *,
    title: str = "Why sessions ended",
    chart_id: str = "end-reasons",
) -> str:
    desc = title + ": " + ", ".join(f"{r} {n}" for r, n in end_reasons) + "."
    return hbar_chart(
        [r for r, _ in end_reasons],
        [("Sessions", [n for _, n in end_reasons])],
        title=title,
        desc=desc,
        chart_id=chart_id,
    )


def printers_chart(
    prints: PrintFigures, *, title: str = "Pages printed per printer", chart_id: str = "printers"
) -> str:
    desc = f"{title}: {prints.pages} pages, {prints.bw} black and white, {prints.colour} colour."
    return hbar_chart(
        [p.printer for p in prints.printers],
        [
            ("Black and white", [p.bw for p in prints.printers]),
            ("Colour", [p.colour for p in prints.printers]),
        ],
        title=title,
        desc=desc,
        chart_id=chart_id,
        unit="pages",
    )
