"""The back office's reports over HTTP and the command line, on a small fixture year (2025).

The controller app runs in-process on loopback with staff login; the figures the page, the
JSON and the exports show are checked against counts worked out from the fixture itself.
A headless Chromium (Debian's) takes a screenshot of the page at desktop size.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import openpyxl
import pytest
from aiohttp import web

from controller import cli_export, staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace.clock import ManualClock, parse_instant
from tests.support.procs import wait_for
from tests.support.served import serve

BRU = ZoneInfo("Europe/Brussels")
PASSWORD = "correct horse battery"
REASONS = ("time", "visitor", "idle", "closing", "steward")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=BRU).timestamp()


def fill_year(db: Any, year: int = 2025) -> dict[str, int]:
    """Month m has m + 5 PC sessions and 2 tablet sessions; every 4th PC session prints
    3 pages (1 colour) on PRN-1; ten visitor help requests, two printer alerts, five
    queue tickets; one raw event per month. Returns the hand counts."""
    conn = db.conn
    n = pages = colour = 0
    pc = tablet = 0
    for month in range(1, 13):
        for i in range(month + 5 + 2):
            kind = "pc" if i < month + 5 else "tablet"
            station = f"PC-{1 + i % 9:02d}" if kind == "pc" else f"TAB-{1 + i % 3:02d}"
            start = at(year, month, 1 + (i * 3) % 27, 9 + i % 8, (i * 13) % 60)
            minutes = 30 + (i * 7) % 31
            sid = f"s{year}-{month:02d}-{i:02d}"
            printed = kind == "pc" and n % 4 == 0
            conn.execute(
                'INSERT INTO sessions (id, station, station_kind, start, planned_end, "end", end_reason,'
                " pages_bw, pages_colour) VALUES (?,?,?,?,?,?,?,?,?)",
                (sid, station, kind, start, start + 3600, start + minutes * 60, REASONS[n % 5],
                 2 if printed else 0, 1 if printed else 0),
            )  # fmt: skip
            if printed:
                conn.execute(
                    "INSERT INTO print_jobs (id, job_key, station, session_id, printer, pages,"
                    " colour_pages, at, source) VALUES (?,?,?,?,?,?,?,?,?)",
                    (f"p-{sid}", f"{station.lower()}/prn-1#{n}", station, sid, "PRN-1", 3, 1,
                     start + 600, "cups"),
                )  # fmt: skip
                pages += 3
                colour += 1
            pc += kind == "pc"
            tablet += kind == "tablet"
            n += 1
        conn.execute(
            "INSERT INTO events (id, station, seq, type, at, received, body) VALUES (?,?,?,?,?,?,?)",
            (
                f"ev-{month}",
                "PC-01",
                month,
                "print_job",
                at(year, month, 2, 10),
                at(year, month, 2, 10),
                "{}",
            ),
        )
    for k in range(10):
        req = at(year, 3 + k % 6, 5, 11, k)
        conn.execute(
            "INSERT INTO help_requests (id, station, kind, requested, taken) VALUES (?,?,?,?,?)",
            (f"h{k}", "PC-02", "visitor", req, req + 60 * (k + 1)),
        )
    for k in range(2):
        conn.execute(
            "INSERT INTO help_requests (id, station, kind, requested) VALUES (?,?,?,?)",
            (f"a{k}", "PRN-1", "printer", at(year, 6, 10 + k, 10)),
        )
    for k in range(5):
        issued = at(year, 9, 15 + k, 14)
        conn.execute(
            "INSERT INTO queue_waits (issued, served, outcome) VALUES (?,?,?)",
            (issued, issued + 120 * (k + 1) if k < 4 else None, "claimed" if k < 4 else "no_show"),
        )
    for k, (station, kind, what) in enumerate([("PC-01", "pc", "screen_missing"), ("PC-02", "pc", "screen_missing"), ("TAB-01", "tablet", "focus_lost")]):
        conn.execute("INSERT INTO escapes VALUES (?,?,?,?,?,'logged_off')", (f"esc{k}", station, kind, at(year, 4, 2 + k, 11), what))
    return {"pc": pc, "tablet": tablet, "pages": pages, "colour": colour, "help": 10, "queued": 5}


class Site:
    def __init__(self, url: str, app: web.Application, db: Path, clock: ManualClock) -> None:
        self.url, self.app, self.db, self.clock = url, app, db, clock
        self.expected: dict[str, int] = {}

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, http: aiohttp.ClientSession, login: str) -> None:
        async with http.post("/login", json={"login": login, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = ManualClock(parse_instant("2026-01-15T10:00"))
    db = tmp_path / "db.sqlite"
    settings = make_settings(database=str(db), event_retention_days=400)
    served = await serve(create_app(settings, clock))
    app = served.app
    s = Site(served.url, app, db, clock)
    now = clock.now()
    store = app[keys.STORE]
    for login, role in (("sam", "steward"), ("bob", "backoffice"), ("ada", "admin")):
        await store.write(
            lambda d, lg=login, r=role: staff.add_staff(d, lg, PASSWORD, r, "fr", now)
        )
    s.expected = await store.write(fill_year)
    yield s
    await served.close()


YEAR = "from=2025-01-01&to=2025-12-31"


async def test_reports_are_for_the_back_office_and_admins_only(site: Site) -> None:
    async with site.client() as http:
        async with http.get("/reports", allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"].startswith("/login")
        async with http.get(f"/api/reports/summary?{YEAR}") as r:
            assert r.status == 401
        await site.login(http, "sam")
        for path in (
            "/reports",
            f"/api/reports/summary?{YEAR}",
            f"/api/reports/export?what=daily&{YEAR}",
        ):
            async with http.get(path) as r:
                assert r.status == 403, path
    for login in ("bob", "ada"):
        async with site.client() as http:
            await site.login(http, login)
            async with http.get(f"/reports?{YEAR}") as r:
                assert r.status == 200, login


async def test_a_period_outside_2000_to_2099_is_a_bad_query_not_a_crash(site: Site) -> None:
    """0001-01-01 and 9999-12-31 overflowed in UTC: 500 on the JSON, the export and the page."""
    async with site.client() as http:
        await site.login(http, "bob")
        for period in ("from=0001-01-01&to=0001-01-01", "from=9999-12-31&to=9999-12-31", "from=1999-12-31&to=2000-01-02"):
            for path in (f"/api/reports/summary?{period}", f"/api/reports/export?what=annual&{period}"):
                async with http.get(path) as r:
                    assert (r.status, (await r.json())["error"]) == (400, "bad_query"), path
            async with http.get(f"/reports?{period}", allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (302, "/reports")
        async with http.get("/api/reports/summary?from=2000-01-01&to=2000-01-01") as r:
            assert r.status == 200


async def test_summary_json_counts_the_fixture_year(site: Site) -> None:
    exp = site.expected
    async with site.client() as http:
        await site.login(http, "bob")
        async with http.get(f"/api/reports/summary?{YEAR}") as r:
            body = await r.json()
        async with http.get(f"/api/reports/summary?{YEAR}&kind=tablet") as r:
            tablets = await r.json()
        async with http.get("/api/reports/summary?from=2025-12-31&to=2025-01-01") as r:
            assert r.status == 400
            assert "after" in (await r.json())["message"]
        async with http.get(f"/api/reports/summary?{YEAR}&kind=phone") as r:
            assert r.status == 400
    assert exp["pc"] == sum(m + 5 for m in range(1, 13)) == 138
    annual = body["annual"]
    assert (annual["sessions_pc"], annual["sessions_tablet"]) == (138, 24)
    assert annual["hour_equivalents"] == 162
    assert (annual["pages"], annual["pages_colour"]) == (exp["pages"], exp["colour"])
    assert exp["pages"] == 3 * sum(1 for n in _pc_numbers() if n % 4 == 0)
    assert (annual["help_requests"], annual["visitors_queued"]) == (10, 5)
    assert body["sessions"]["per_month"]["2025-01"] == 8
    assert body["sessions"]["per_month"]["2025-12"] == 19
    assert body["help"]["printer_alerts"] == 2
    assert body["help"]["answer_seconds"]["median"] == 330.0  # 60..600 s: (300 + 360) / 2
    assert body["queue"]["wait_seconds"]["median"] == 300.0  # 120, 240, 360, 480
    assert tablets["annual"]["sessions_pc"] == 0
    assert tablets["annual"]["sessions_tablet"] == 24
    assert tablets["annual"]["pages"] == 0


def _pc_numbers() -> set[int]:
    """The running numbers of PC sessions in fill_year (the first month + 5 of each month)."""
    out, n = set(), 0
    for month in range(1, 13):
        for i in range(month + 7):
            if i < month + 5:
                out.add(n)
            n += 1
    return out


async def test_the_page_shows_the_figures_and_charts_in_each_language(site: Site) -> None:
    async with site.client() as http:
        await site.login(http, "bob")
        async with http.get(f"/reports?{YEAR}") as r:
            fr = await r.text()
            assert "script-src 'none'" in r.headers["Content-Security-Policy"]
        async with http.get(f"/reports?{YEAR}&lang=nl&kind=pc") as r:
            nl = await r.text()
        async with http.get(f"/reports?{YEAR}&lang=en") as r:
            en = await r.text()
        async with http.get("/reports?from=nonsense", allow_redirects=False) as r:
            assert r.status == 302
    assert '<html lang="fr">' in fr
    assert 'Sessions sur PC</th><td class="n">138</td>' in fr
    assert 'Sessions sur tablette</th><td class="n">24</td>' in fr
    assert fr.count("<svg") == 4  # sessions per month, occupancy, end reasons, printers
    assert "Sessions commencées par mois" in fr
    assert "Occupation par heure" in fr
    assert "lun" in fr
    assert "Gestarte sessies per maand" in nl
    assert 'Sessies op tablets</th><td class="n">0</td>' in nl  # kind=pc
    assert 'value="pc" selected' in nl
    assert 'Sessions, all stations</th><td class="n">162</td>' in en
    assert "Hour equivalents" not in en  # it always equalled the sessions (issue 17)
    # ways around the lock screen, per what and kind: PCs, tablets, total
    assert '<section id="escapes"' in en
    assert 'Lock screen missing</th><td class="n">2</td><td class="n">0</td><td class="n">2</td>' in en
    assert 'Lock screen pushed to the back</th><td class="n">0</td><td class="n">1</td><td class="n">1</td>' in en
    assert 'Total</th><td class="n">2</td><td class="n">1</td><td class="n">3</td>' in en.split('id="escapes"')[1]
    assert 'id="escapes"' in fr
    assert 'id="escapes"' in nl
    assert 'Keyboard and mouse not held</th><td class="n">0</td><td class="n">0</td><td class="n">0</td>' in en
    assert (
        "/api/reports/export?from=2025-01-01&amp;to=2025-12-31&amp;lang=en&amp;what=annual&amp;format=xlsx"
        in en
    )
    for text in (fr, nl, en):
        assert "reports." not in text.replace("/static/reports.css", "")  # no msgid left bare


async def test_csv_and_xlsx_exports_parse_back(site: Site) -> None:
    async with site.client() as http:
        await site.login(http, "bob")
        async with http.get(f"/api/reports/export?what=sessions&{YEAR}&format=csv") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/csv")
            assert (
                r.headers["Content-Disposition"]
                == 'attachment; filename="espace-sessions-2025-01-01-2025-12-31.csv"'
            )
            raw = await r.read()
        async with http.get(f"/api/reports/export?what=annual&{YEAR}&format=xlsx&kind=pc") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            assert "espace-annual-2025-01-01-2025-12-31-pc.xlsx" in r.headers["Content-Disposition"]
            xlsx = await r.read()
        async with http.get(f"/api/reports/export?what=people&{YEAR}") as r:
            assert r.status == 400
        async with http.get(f"/api/reports/export?what=daily&{YEAR}&format=pdf") as r:
            assert r.status == 400
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the accents
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 162
    assert sum(r["kind"] == "tablet" for r in rows) == 24
    assert {r["end_reason"] for r in rows} == set(REASONS)
    assert rows[0]["start"].startswith("2025-01-01 09:")
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    sheet = book["annual"]
    values = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["Sessions on PCs"] == 138
    assert values["Sessions on tablets"] == 0
    assert values["Pages printed"] == site.expected["pages"]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="espace-controller")
    cli_export.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


async def test_the_command_line_export_reads_the_running_store(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "daily.xlsx"
    db = str(site.db)
    args = ["export", "--database", db, "--from", "2025-03-01", "--to", "2025-03-31"]
    assert run_cli([*args, "--what", "daily", "--format", "xlsx", "--output", str(out)]) == 0
    sheet = openpyxl.load_workbook(out)["daily"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 31
    assert sum(r[2] for r in rows) == 3 + 5 + 2  # March: 8 PC + 2 tablet sessions
    assert "export daily: 31 rows written to" in capsys.readouterr().err

    os.chdir(tmp_path)
    assert run_cli([*args, "--what", "sessions", "--kind", "tablet"]) == 0
    named = tmp_path / "espace-sessions-2025-03-01-2025-03-31-tablet.csv"
    tablet_rows = list(csv.DictReader(io.StringIO(named.read_text("utf-8-sig"))))
    assert [r["kind"] for r in tablet_rows] == ["tablet", "tablet"]

    assert run_cli([*args, "--what", "annual", "--output", "-"]) == 0
    annual = capsys.readouterr().out
    assert "Sessions on PCs,8" in annual
    assert (
        run_cli(
            [
                "export",
                "--database",
                str(tmp_path / "none.db"),
                "--from",
                "2025-01-01",
                "--to",
                "2025-01-02",
            ]
        )
        == 2
    )
    assert "no store at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(["export", "--database", db, "--from", "2025-13-01", "--to", "2025-12-31"])


async def test_old_raw_events_are_pruned_daily_and_sessions_stay(site: Site) -> None:
    store = site.app[keys.STORE]

    async def events() -> int:
        return await store.read(lambda db: db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    async def events_are(n: int) -> bool:
        return await events() == n

    async def sessions() -> int:
        return await store.read(
            lambda db: db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        )

    # the fixture's events (2025-01-02 .. 2025-12-02) are younger than 400 days on 2026-01-15
    assert await events() == 12
    # 52 days later, 2026-03-08: the cut-off is 2025-02-01; January's event goes, February's stays
    await site.clock.advance(52 * 86400)
    await wait_for(lambda: events_are(11), what="January's event pruned")
    await site.clock.advance(86400)
    await asyncio.sleep(0.2)
    assert await events() == 11
    assert await sessions() == 162


def shot_path(tmp_path: Path) -> Path:
    """Under $ESPACE_SCREENSHOTS when set (to look at it), else the test's own directory."""
    keep = os.environ.get("ESPACE_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "reports-desktop.png"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_the_page_at_desktop_size_screenshot(site: Site, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async with site.client() as http:
        await site.login(http, "bob")
        token = next(c.value for c in http.cookie_jar if c.key == "espace_staff")
    shot = shot_path(tmp_path)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            await context.add_cookies([{"name": "espace_staff", "value": token, "url": site.url}])
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(f"{site.url}/reports?{YEAR}&lang=fr")
            assert await page.locator("h1").inner_text() == "Rapports"
            assert await page.locator("figure.chart svg").count() == 4
            # the charts fit the page: no horizontal scrolling at desktop size
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await page.screenshot(path=str(shot), full_page=True)
            assert errors == []
        finally:
            await browser.close()
    assert shot.stat().st_size > 20_000
