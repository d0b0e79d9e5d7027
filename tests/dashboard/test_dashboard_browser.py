"""The floor in headless Chromium against a real controller process and real agent processes.

A steward logs in, watches stations change live, answers a help request, extends a session,
locks a station, and the page recovers by itself after a controller restart. Screenshots of
the 61-station floor at phone and desktop sizes go to ``$ESPACE_SHOTS`` (or the test's tmp dir).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.browser import add_staff, needs_chromium, wait_js
from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for

pytest.importorskip("playwright.async_api")
PASSWORD = "steward password 1"
AGENTS = ["PC-01", "PC-02", "PC-03", "PC-10", "PC-11", "PC-45", "TAB-01", "TAB-02"]

pytestmark = needs_chromium


class Site:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = shared_clock(speed=10.0)
        self.controller = ControllerProc(tmp, self.clock)
        self.agents: dict[str, AgentProc] = {}

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return self.controller.rows(sql, *args)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = Site(tmp_path)
    await add_staff(s.controller.db, ("sam", PASSWORD, "steward", "en"))
    tokens = {st: s.controller.add_station(st) for st in AGENTS}
    s.controller.start()
    for st in AGENTS:
        agent = AgentProc(tmp_path, st, tokens[st], s.controller.ws_url, s.clock)
        await agent.start()
        s.agents[st] = agent
    try:
        for agent in s.agents.values():
            await agent.wait_drained()
        yield s
    finally:
        for agent in s.agents.values():
            await agent.kill()
        s.controller.kill()


def tile(station: str, state: str | None = None) -> str:
    sel = f'#map button[data-station="{station}"]'
    return sel + (f'[data-state="{state}"]' if state else "")


async def login(page, url: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(url + "/floor")
    assert "/login" in page.url  # refused without a session
    await page.fill("#login", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/floor")
    await page.wait_for_selector(tile("PC-01"))
    await page.wait_for_selector("#conn:not(.down)")


async def act(page, station: str, action: str, text: str = "") -> None:  # type: ignore[no-untyped-def]
    await page.click(tile(station))
    await page.click(f'#sheet-actions button[data-action="{action}"]')
    if text:
        await page.fill("#sheet-text", text)
    await page.click("#sheet-confirm")
    await page.wait_for_selector("#sheet", state="hidden")


async def test_a_steward_runs_the_floor_live(site: Site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = site.controller.url
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await ctx.new_page()
    await login(page, url)
    await page.wait_for_selector(tile("PC-01", "free"))
    assert await page.locator("#map button.tile").count() == 61
    # the pages a steward may open are linked from the floor; the others are not shown
    assert await page.is_visible('nav.pages a[href="/desk"]')
    assert await page.is_hidden('nav.pages a[href="/reports"]')
    assert await page.is_hidden('nav.pages a[href="/admin/staff"]')
    assert await page.text_content("#conn") == "● Live"

    # a visitor starts a session: the tile turns in_session with no reload
    a1 = site.agents["PC-01"]
    started = await a1.call("start", lang="fr")
    assert started["ok"]
    await page.wait_for_selector(tile("PC-01", "in_session"), timeout=5000)

    # help: visible alert, "I'm on it" -> the station hears "a steward is coming", then done
    a2 = site.agents["PC-02"]
    assert (await a2.call("start"))["ok"]
    help_id = (await a2.call("help"))["help_id"]
    item = f'.help-item[data-help="{help_id}"]'
    await page.wait_for_selector(item, timeout=5000)
    await page.wait_for_selector(tile("PC-02", "help"))
    assert "PC-02" in (await page.text_content("#alert") or "")
    await page.click(f"{item} .btn-take")
    await page.wait_for_selector(f"{item}.taken")
    assert "sam" in (await page.text_content(item) or "")
    await wait_for(lambda: _ui_has(a2, {"ui": "help", "state": "coming"}), 5, "help_update taken at the station")
    await page.click(f"{item} .btn-done")
    await page.wait_for_selector(item, state="detached")
    await page.wait_for_selector(tile("PC-02", "in_session"))
    [(taken, taken_by, done, requested)] = site.rows("SELECT taken, taken_by, done, requested FROM help_requests WHERE id = ?", help_id)
    assert taken_by == "sam"
    assert requested <= taken <= done  # type: ignore[operator]

    # extend: the agent gets the new end
    before = (await a1.call("status"))["session"]["end"]
    await act(page, "PC-01", "extend")
    st = await wait_for(lambda: _status_if(a1, lambda s: s["session"]["end"] > before), 5, "extension at the agent")
    assert st["session"]["end"] == pytest.approx(before + 30 * 60)

    # lock with a reason: the agent is locked, the tile says so
    await act(page, "PC-03", "lock", "screen broken")
    await wait_for(lambda: _status_if(site.agents["PC-03"], lambda s: s["locked"] == "screen broken"), 5, "lock at the agent")
    await page.wait_for_selector(tile("PC-03", "locked"))
    assert "screen broken" in (await page.text_content(tile("PC-03")) or "")
    audit = [r[0] for r in site.rows("SELECT type FROM events WHERE actor = 'sam' ORDER BY received")]
    assert audit == ["staff.help_take", "staff.help_done", "staff.extend", "staff.lock"]

    # the page recovers by itself after a controller restart
    site.controller.kill()
    await page.wait_for_selector("#conn.down", timeout=5000)
    site.controller.start()
    await page.wait_for_selector("#conn:not(.down)", timeout=20000)
    await page.wait_for_selector(tile("PC-01", "in_session"), timeout=20000)
    await page.wait_for_selector(tile("PC-03", "locked"), timeout=20000)
    await ctx.close()


async def test_screenshots_of_the_61_station_floor(site: Site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("ESPACE_SHOTS") or tmp_path / "shots")
    os.makedirs(shots, exist_ok=True)
    ag = site.agents
    for st in ("PC-01", "PC-02", "PC-10", "PC-11", "TAB-01"):
        assert (await ag[st].call("start"))["ok"]
    await ag["PC-02"].call("help")
    await ag["PC-11"].call("set_idle", seconds=400)
    url = site.controller.url
    for name, viewport in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
        ctx = await browser.new_context(viewport=viewport, device_scale_factor=1)
        page = await ctx.new_page()
        await page.goto(url + "/login")
        await page.click('.lang[data-lang="nl"]')
        await wait_js(page, "() => document.documentElement.lang === 'nl'")
        await page.screenshot(path=str(shots / f"login-{name}.png"))
        await login(page, url)
        await page.wait_for_selector(tile("PC-02", "help"))
        await page.wait_for_selector(tile("PC-11", "idle"))
        await page.wait_for_selector(".help-item")
        png = await page.screenshot(path=str(shots / f"floor-{name}.png"), full_page=name == "phone")
        assert len(png) > 10_000
        await page.click(tile("PC-01"))
        await page.wait_for_selector("#sheet[open]")
        await page.screenshot(path=str(shots / f"sheet-{name}.png"))
        # keyboard: Escape closes the sheet, tiles are reachable with Tab
        await page.keyboard.press("Escape")
        await page.wait_for_selector("#sheet", state="hidden")
        if name == "phone":  # touch targets stay at least 44 px
            box = await page.locator(tile("PC-05")).bounding_box()
            assert box is not None
            assert box["height"] >= 44
            assert box["width"] >= 44
        await ctx.close()


async def _ui_has(agent: AgentProc, msg: dict[str, str]) -> bool:
    await agent.call("status")  # UI lines arrive in between the answers to calls
    assert agent.client is not None
    return msg in agent.client.ui


async def _status_if(agent: AgentProc, cond):  # type: ignore[no-untyped-def]
    st = await agent.call("status")
    try:
        return st if cond(st) else None
    except (TypeError, KeyError):  # no session (yet)
        return None
