"""SVG charts parse as XML, carry a title and a description, and escape text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from reports_fixture import build

from controller.reports import figures, svg
from espace.protocol import END_REASONS

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iterfind(".//s:rect", NS) if r.get("class") == "bar"]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iterfind(".//s:text", NS)]


def test_bar_chart_title_desc_bars_and_values() -> None:
    root = parse(
        svg.bar_chart(
            ["Jan", "Feb", "Mar"], [10, 0, 25], title="Sessions per month", desc="Three months"
        )
    )
    assert root.get("role") == "img"
    title = root.find("s:title", NS)
    desc = root.find("s:desc", NS)
    assert title is not None
    assert title.text == "Sessions per month"
    assert desc is not None
    assert desc.text == "Three months"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    found = bars(root)
    assert len(found) == 3
    heights = [float(b.get("height", "0")) for b in found]
    assert heights[1] == 0
    assert heights[2] > heights[0] > 0
    tips = [b.find("s:title", NS) for b in found]
    assert [t.text for t in tips if t is not None] == ["Jan: 10", "Feb: 0", "Mar: 25"]
    assert {"Jan", "Feb", "Mar", "10", "25"} <= set(texts(root))


def test_text_is_escaped() -> None:
    nasty = 'Sessions <script>alert("x")</script> & co'
    out = svg.bar_chart(["<b>&"], [1], title=nasty, desc=nasty, chart_id='x" onload="y')
    assert "<script>" not in out
    assert "<b>" not in out
    root = parse(out)
    title = root.find("s:title", NS)
    assert title is not None
    assert title.text == nasty
    assert "<b>&" in texts(root)
    assert root.get("onload") is None
    assert all(" " not in (el.get("id") or "") for el in root.iter())


def test_many_bars_thin_their_labels() -> None:
    labels = [f"2026-01-{d:02d}" for d in range(1, 32)]
    root = parse(svg.bar_chart(labels, list(range(31)), title="Per day"))
    assert len(bars(root)) == 31
    shown = [t for t in texts(root) if t.startswith("2026-")]
    assert 0 < len(shown) <= 24


def test_hbar_chart_series_and_legend() -> None:
    root = parse(
        svg.hbar_chart(
            ["hall", "office"],
            [("Black and white", [7, 13]), ("Colour", [1, 6])],
            title="Pages per printer",
        )
    )
    assert len(bars(root)) == 4
    assert {"Black and white", "Colour", "hall", "office", "13", "6"} <= set(texts(root))
    fills = {b.get("fill") for b in bars(root)}
    assert fills == {svg.PALETTE[0], svg.PALETTE[1]}


def test_heat_map_cells() -> None:
    matrix = [[0, 5, 10], [20, 0, 0]]
    root = parse(
        svg.heat_map(matrix, row_labels=["Mon", "Tue"], col_labels=["9h", "10h", "11h"], title="H")
    )
    cells = [r for r in root.iterfind(".//s:rect", NS) if r.get("class") == "cell"]
    assert len(cells) == 6
    assert cells[0].get("fill") == svg.EMPTY
    assert cells[3].get("fill") == svg.RAMP[-1]  # the top value is the darkest
    assert {"Mon", "Tue", "9h", "11h", "5", "20"} <= set(texts(root))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="length"):
        svg.bar_chart(["a"], [1, 2], title="t")
    with pytest.raises(ValueError, match="shape"):
        svg.heat_map([[1]], row_labels=["a", "b"], col_labels=["x"], title="t")
    with pytest.raises(ValueError, match="values"):
        svg.hbar_chart(["a", "b"], [("s", [1])], title="t")


def test_charts_from_figures() -> None:
    conn = build()
    r = figures.report(conn, "2026-03-28", "2026-03-29")
    days = parse(svg.sessions_chart(r.sessions.per_day, title="Sessions per day"))
    assert len(bars(days)) == 2
    desc = days.find("s:desc", NS)
    assert desc is not None
    assert "6" in (desc.text or "")
    heat = parse(svg.occupancy_chart(r.occupancy))
    cells = [c for c in heat.iterfind(".//s:rect", NS) if c.get("class") == "cell"]
    assert len(cells) == 7 * 24  # busy from 0h to 23h in the fixture
    reasons = parse(svg.end_reasons_chart(r.sessions.end_reasons))
    assert len(bars(reasons)) == len(END_REASONS)  # one bar per end reason of the wire protocol
    printers = parse(svg.printers_chart(r.prints))
    assert len(bars(printers)) == 6  # hall, lab, office x (bw, colour)
    ids = [t.get("id") for c in (days, heat, reasons, printers) for t in c.iterfind("s:title", NS)]
    assert len(ids) == len(set(ids)) == 4
