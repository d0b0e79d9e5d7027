"""The desk, the reports and the other staff pages as their people use them (issue 17), in Chromium.

One real controller (no station needed), its clock on Thursday 19 November 2026:

- the desk books a workshop every Thursday with the weekday picker (no ``weekly:thu`` to type), is
  told what was saved, sees it among the next weeks' bookings once, with its rule (it used to
  vanish: only today's sittings were listed), and cancels it only after saying yes;
- the back office logs in and lands on its reports, whose annual block counts the visitors the
  queue served, not the tickets the desk cancelled (69 issued with 61 cancelled used to read 69);
- axe-core finds no serious or critical violation on the login, desk, now-serving, reports and
  staff pages, in French and in Dutch.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from espace.i18n import catalog
from tests.dashboard.conftest import axe_violations
from tests.support.browser import add_staff, needs_chromium, wait_js
from tests.support.procs import ControllerProc, shared_clock

pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

FR, NL = catalog("fr"), catalog("nl")
BRUSSELS = ZoneInfo("Europe/Brussels")


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS).timestamp()


def _seed_queue(db: Path) -> None:
    """Last week's queue: 3 served, 1 no-show, 5 cancelled at the desk."""
    with sqlite3.connect(db) as conn:
        issued = _at("2026-11-12T10:00")
        rows = [(issued, issued + 300, "claimed")] * 3 + [(issued, None, "no_show")] + [(issued, None, "cancelled")] * 5
        conn.executemany("INSERT INTO queue_waits (issued, served, outcome) VALUES (?,?,?)", rows)


async def _login(browser, url: str, login: str, lang: str):  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.click(f'.lang[data-lang="{lang}"]')
    await wait_js(page, f"() => document.documentElement.lang === '{lang}'")
    await page.fill("#login", login)
    await page.fill("#password", f"{login} password 1")
    await page.click("button[type=submit]")
    return page


async def test_desk_bookings_reports_and_every_page_in_fr_and_nl(tmp_path: Path, browser, axe_js: Path, shots: Path) -> None:  # type: ignore[no-untyped-def]
    ctl = ControllerProc(tmp_path, shared_clock(start="2026-11-19T10:00", speed=1.0))
    await add_staff(ctl.db, *((login, f"{login} password 1", role, "fr") for login, role in (("dee", "steward"), ("bo", "backoffice"), ("ada", "admin"))))
    _seed_queue(ctl.db)
    await asyncio.to_thread(ctl.start)
    url = ctl.url
    problems: dict[str, list[str]] = {}
    try:
        # ---------------------------------------------------------------- the desk
        desk = await _login(browser, url, "dee", "fr")
        await desk.wait_for_url(url + "/floor")
        await desk.goto(url + "/desk")
        await desk.wait_for_selector("#upcoming li")
        await desk.fill('input[name="label"]', "Atelier CV")
        await desk.fill('input[name="start"]', "2026-11-26T14:00")
        await desk.fill('input[name="end"]', "2026-11-26T16:00")
        await desk.fill('input[name="count"]', "4")
        await desk.select_option("#repeat", "weekly")
        await desk.check('#repeat-weekly input[value="thu"]')
        await desk.click("#create")
        # what was saved is said: label, first sitting, rule
        await desk.wait_for_selector("#booking-notice:not(:empty)")
        saved = await desk.text_content("#booking-notice") or ""
        assert saved.startswith(FR["desk.booking.saved"].split("{")[0]), saved
        assert "Atelier CV" in saved
        assert "14:00" in saved
        assert "jeudi" in saved
        [(stored_rule,)] = ctl.rows("SELECT recurrence FROM bookings WHERE cancelled IS NULL")
        assert stored_rule == "weekly:thu"
        # a week ahead, it is listed once with its rule (it used to vanish from the desk)
        row = '#upcoming li:has-text("Atelier CV")'
        await desk.wait_for_selector(row)
        assert await desk.locator(row).count() == 1
        text = await desk.text_content(row) or ""
        assert "chaque semaine : jeudi" in text, text
        assert "26" in text, text  # its next sitting, Thursday 26 November
        await desk.screenshot(path=str(shots / "desk-fr.png"), full_page=True)
        problems["desk fr"] = await axe_violations(desk, axe_js)

        # cancelling asks first; "keep" keeps it, "yes" cancels it
        await desk.click(f"{row} button")
        await desk.wait_for_selector(f"{row} button.danger")
        assert FR["desk.booking.cancel_confirm"] in (await desk.text_content(row) or "")
        await desk.click(f'{row} button:text-is("{FR["desk.booking.keep"]}")')
        await desk.wait_for_selector(f"{row} button.danger", state="detached")
        assert ctl.rows("SELECT id FROM bookings WHERE cancelled IS NULL") != []
        await desk.click(f"{row} button")
        await desk.click(f"{row} button.danger")
        await desk.wait_for_selector(row, state="detached")
        assert ctl.rows("SELECT id FROM bookings WHERE cancelled IS NULL") == []

        # the desk in Dutch: the picker's days in Dutch, and axe again
        await desk.select_option("#lang", "nl")
        await wait_js(desk, "() => document.documentElement.lang === 'nl'")
        await desk.select_option("#repeat", "weekly")
        assert "donderdag" in (await desk.text_content("#repeat-weekly") or "")
        problems["desk nl"] = await axe_violations(desk, axe_js)

        # ---------------------------------------------------------------- the public screen
        screen_ctx = await browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
        screen = await screen_ctx.new_page()
        await screen.goto(url + "/now-serving")
        await screen.wait_for_selector("#title span")
        problems["now-serving"] = await axe_violations(screen, axe_js)
        # 37 calls at once (the controller's answer, held at the network seam: calling 37 stations
        # takes 37 connected stations): the newest first, as many as fit, the hint line on screen
        calls = [{"code": f"K{n:02d}", "station": f"PC-{n:02d}"} for n in range(1, 38)]  # oldest first, as served
        body = json.dumps({"now": 0, "open": True, "closing": None, "serving": calls, "waiting": 3})
        await screen.route("**/api/public/now-serving", lambda route: route.fulfill(status=200, content_type="application/json", body=body))
        await screen.reload()
        await screen.wait_for_selector("#calls:not([hidden]) tbody tr")
        shown = await screen.eval_on_selector_all("#calls tbody td.code", "tds => tds.map(td => td.textContent)")
        assert shown[0] == "K37", shown  # the newest call on top
        assert shown == [f"K{n:02d}" for n in range(37, 37 - len(shown), -1)]
        assert 4 <= len(shown) < 37, shown
        hint = await screen.eval_on_selector("#hint", "e => { const r = e.getBoundingClientRect(); return [r.bottom, e.textContent]; }")
        assert hint[1]
        assert hint[0] <= 1080, hint  # "type your ticket" always on screen
        last_row = await screen.eval_on_selector("#calls tbody tr:last-child", "e => e.getBoundingClientRect().bottom")
        assert last_row <= hint[0]
        assert str(37 - len(shown)) in (await screen.text_content("#more") or "")
        await screen.screenshot(path=str(shots / "now-serving-37.png"))
        await screen.unroute("**/api/public/now-serving")
        # the checker itself bites: an image with no text is a critical violation it must report
        await screen.evaluate("() => document.body.append(Object.assign(document.createElement('img'), { src: 'data:,' }))")
        assert any("image-alt" in v for v in await axe_violations(screen, axe_js))
        await screen_ctx.close()

        # ---------------------------------------------------------------- the back office
        for lang, cat in (("fr", FR), ("nl", NL)):
            bo = await _login(browser, url, "bo", lang)
            await bo.wait_for_url(url + "/reports")  # its own page, not the floor
            await bo.goto(url + f"/reports?lang={lang}")
            label = cat["reports.annual.visitors_queued"]
            value = await bo.text_content(f'#annual tr:has(th:text-is("{label}")) td')
            assert value == "4", value  # 3 served + 1 no-show; the 5 cancelled tickets are no visitors
            cancelled = await bo.text_content(f'#queue tr:has(th:text-is("{cat["reports.queue.cancelled"]}")) td')
            assert cancelled == "5", cancelled
            # the page says what it measures, and shows occupancy against capacity and languages
            assert await bo.text_content(".measure") == cat["reports.measure"]
            await bo.wait_for_selector("#rates table.rates")
            await bo.wait_for_selector("#languages table")
            problems[f"reports {lang}"] = await axe_violations(bo, axe_js)
            # one click: the annual report workbook, read back with openpyxl in the page's language
            async with bo.expect_download() as dl:
                await bo.click("#exports li.report a")
            assert (await dl.value).suggested_filename == "espace-report-2026-01-01-2026-11-19.xlsx"
            raw = await asyncio.to_thread(Path(await (await dl.value).path()).read_bytes)
            book = load_workbook(io.BytesIO(raw))
            assert book.sheetnames[0] == cat["report.sheet.summary"]
            assert str(book.worksheets[0]["A1"].value).startswith(cat["report.title"])
            assert book.worksheets[0]["A3"].value == cat["report.period"].format(start="2026-01-01", end="2026-11-19")
            summary = {r[0]: r[1] for r in book.worksheets[0].iter_rows(min_row=7, values_only=True)}
            assert summary[cat["reports.annual.visitors_queued"]] == 4
            # the daily table as CSV for Excel in Belgium: BOM, ';', headers and weekdays in words
            async with bo.expect_download() as dl:
                await bo.click('#exports a[href*="what=daily"][href*="dialect=be"]')
            data = await asyncio.to_thread(Path(await (await dl.value).path()).read_bytes)
            assert data.startswith(b"\xef\xbb\xbf")
            lines = data.decode("utf-8-sig").splitlines()
            assert lines[0].split(";")[:2] == [cat["export.col.date"], cat["export.col.weekday"]]
            assert lines[1].split(";")[1] == cat["reports.weekday.thu"]  # 1 January 2026
            if lang == "fr":  # the floor for a role that only watches: no sound, a sheet that says so
                await bo.goto(url + "/floor")
                await bo.wait_for_selector('#map button[data-station="PC-01"]')
                assert not await bo.is_checked("#sound")
                await bo.click('#map button[data-station="PC-01"]')
                await bo.wait_for_selector("#sheet-view-only:not([hidden])")
                assert await bo.locator("#sheet-actions button").count() == 0
            await bo.context.close()

        # ---------------------------------------------------------------- login and staff pages
        for lang in ("fr", "nl"):
            ctx = await browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = await ctx.new_page()
            await page.goto(url + "/login")
            await page.click(f'.lang[data-lang="{lang}"]')
            await wait_js(page, f"() => document.documentElement.lang === '{lang}'")
            problems[f"login {lang}"] = await axe_violations(page, axe_js)
            await ctx.close()
            admin = await _login(browser, url, "ada", lang)
            await admin.wait_for_url(url + "/floor")
            await admin.goto(url + "/admin/staff")
            await admin.wait_for_selector('#accounts tr[data-login="bo"]')
            await admin.select_option("#lang", lang)
            await wait_js(admin, f"() => document.documentElement.lang === '{lang}'")
            problems[f"staff {lang}"] = await axe_violations(admin, axe_js)
            await admin.context.close()
    finally:
        ctl.kill()
    assert {page: found for page, found in problems.items() if found} == {}
