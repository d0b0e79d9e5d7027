"""The floor as stewards hold it (issue 17), in headless Chromium, against a real controller and agents.

One steward's page is taken through every width from a small phone to a wall screen (360, 390,
768, 1024, 1280, 1920 px): the 61-station map never runs off the side, every station stays on the
page (on screen without scrolling from 768 px up), no station name breaks, and the phone's header
stays small. On the way: the counters add up to the stations, the help item says the visitor's
language, a waiting accessible ticket is shown, ending a session without a reason says what is
missing, arrow keys move between tiles, and changing the language keeps the steward logged in and
the live feed running (the server used to close it with the "logged out" code). axe-core finds no
serious or critical violation on the floor, in French and in Dutch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from espace.i18n import catalog
from tests.dashboard.conftest import axe_violations
from tests.support.browser import add_staff, needs_chromium, wait_js
from tests.support.procs import AgentProc, ControllerProc, shared_clock

pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

PASSWORD = "steward password 1"
AGENTS = ["PC-01", "PC-02", "PC-03", "TAB-01"]
WIDTHS = [(360, 740), (390, 844), (768, 1024), (1024, 768), (1280, 800), (1920, 1080)]
NL = catalog("nl")


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[tuple[ControllerProc, dict[str, AgentProc]]]:
    clock = shared_clock(start="2026-11-19T10:00", speed=10.0)
    ctl = ControllerProc(tmp_path, clock)
    await add_staff(ctl.db, ("sam", PASSWORD, "steward", "fr"))
    tokens = {st: ctl.add_station(st) for st in AGENTS}
    await asyncio.to_thread(ctl.start)
    agents = {st: AgentProc(tmp_path, st, tokens[st], ctl.ws_url, clock) for st in AGENTS}
    try:
        for agent in agents.values():
            await agent.start()
        for agent in agents.values():
            await agent.wait_drained()
        yield ctl, agents
    finally:
        for agent in agents.values():
            await agent.kill()
        ctl.kill()


def tile(station: str) -> str:
    return f'#map button[data-station="{station}"]'


# Geometry of the page, measured in it: overflow, tiles off the page or off the screen, broken names.
MEASURE = """() => {
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const tiles = [...document.querySelectorAll('#map .tile')];
  const off = [], offScreen = [], broken = [];
  for (const el of tiles) {
    const r = el.getBoundingClientRect();
    const id = el.querySelector('.id');
    if (r.left < 0 || r.right > vw + 0.5 || r.width < 40 || r.height < 40) off.push(el.dataset.station || el.dataset.printer);
    if (r.top < 0 || r.bottom > vh + 0.5) offScreen.push(el.dataset.station || el.dataset.printer);
    if (id.scrollWidth > el.clientWidth || id.getClientRects().length > 1) broken.push(id.textContent);
  }
  return { vw, overflow: document.documentElement.scrollWidth - vw, stations: document.querySelectorAll('#map button.tile').length, printers: tiles.length - document.querySelectorAll('#map button.tile').length, off, offScreen, broken,
           header: document.querySelector('header.top').getBoundingClientRect().height };
}"""


async def test_the_floor_fits_every_width_and_tells_the_steward_what_they_need(floor, browser, axe_js: Path, shots: Path) -> None:  # type: ignore[no-untyped-def]
    ctl, agents = floor
    assert (await agents["PC-01"].call("start", lang="fr"))["ok"]
    assert (await agents["PC-02"].call("start", lang="nl"))["ok"]
    help_id = (await agents["PC-02"].call("help"))["help_id"]

    ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1, bypass_csp=True)
    page = await ctx.new_page()
    closed: list[str] = []  # the live feed's sockets the server closed
    page.on("websocket", lambda ws: ws.on("close", lambda w: closed.append(w.url)))
    await page.goto(ctl.url + "/login")
    await page.fill("#login", "sam")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(ctl.url + "/floor")
    # an accessible ticket: no accessible station is connected, so it waits; the floor shows it
    issued = await page.evaluate(
        """async () => { const me = await (await fetch('/api/me')).json();
           const r = await fetch('/api/queue/tickets', { method: 'POST', headers: { 'Content-Type': 'application/json',
             'X-CSRF-Token': me.csrf }, body: JSON.stringify({ accessible: true }) }); return [r.status, await r.json()]; }"""
    )
    assert issued[0] == 201, issued
    assert issued[1]["station"] is None, issued
    await page.reload()
    await page.wait_for_selector(tile("PC-02") + '[data-state="help"]')
    await page.wait_for_selector("#conn:not(.down)")

    # the help item says the visitor's language before the steward walks over
    item = f'.help-item[data-help="{help_id}"]'
    await page.wait_for_selector(f"{item} .lang-badge")
    assert await page.text_content(f"{item} .lang-badge") == "NL"
    # the waiting accessible ticket is on the queue counter
    assert "1 ♿" in (await page.text_content("#queue") or "")

    # lock PC-03: a locked station is counted too; the counters add up to the 61 stations
    await page.click(tile("PC-03"))
    await page.click('#sheet-actions button[data-action="lock"]')
    await page.fill("#sheet-text", "clavier cassé")
    await page.click("#sheet-confirm")
    await page.wait_for_selector(tile("PC-03") + '[data-state="locked"]')
    counts = await page.evaluate(
        "() => ['free','busy','help','reserved','locked','offline'].map(k => +document.getElementById('n-' + k).textContent)"
    )
    assert sum(counts) == 61, counts
    assert (counts[2], counts[4]) == (1, 1), counts  # one help, one locked

    # ending a session without a reason says what is missing, not just the field's name
    await page.click(tile("PC-01"))
    await page.click('#sheet-actions button[data-action="end"]')
    await page.click("#sheet-confirm")
    assert await page.text_content("#sheet-error") == catalog("fr")["floor.error.no_reason"]
    assert await page.get_attribute("#sheet-text", "aria-invalid") == "true"
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#sheet", state="hidden")

    # a tile's spoken name says its state and end time, never the seconds of its countdown
    assert await page.get_attribute(tile("PC-01"), "aria-label") is None
    assert await page.get_attribute(tile("PC-01") + " .sub", "aria-hidden") == "true"
    said = await page.text_content(tile("PC-01") + " .said") or ""
    until = catalog("fr")["floor.until"].split("{time}")[0]
    assert said.startswith(until), said
    assert said[len(until) :][:5].replace(":", "").isdigit(), said  # "jusqu'à 11:00"

    # arrow keys move between tiles (the map is one tab stop): right to PC-02, down to PC-10
    await page.focus(tile("PC-01"))
    await page.keyboard.press("ArrowRight")
    assert await page.evaluate("() => document.activeElement.dataset.station") == "PC-02"
    await page.keyboard.press("ArrowDown")
    assert await page.evaluate("() => document.activeElement.dataset.station") == "PC-10"
    assert await page.evaluate("() => document.querySelectorAll('#map button.tile[tabindex=\"0\"]').length") == 1

    assert await axe_violations(page, axe_js) == []

    # the language changes; the steward stays logged in and the same feed goes on (PC-01 ends live)
    assert closed == []
    await page.select_option("#lang", "nl")
    await wait_js(page, "() => document.documentElement.lang === 'nl'")
    await agents["PC-01"].call("end")
    await page.wait_for_selector(tile("PC-01") + ':not([data-state="in_session"])', timeout=20000)
    assert page.url == ctl.url + "/floor"
    assert closed == []  # the server used to close it with 4401 "logged out" on set_lang
    assert await page.text_content("#conn") == "● " + NL["floor.status.live"]
    assert await axe_violations(page, axe_js) == []

    # every width: no side scroll, every station on the page, names whole, a small phone header
    for width, height in WIDTHS:
        await page.set_viewport_size({"width": width, "height": height})
        await wait_js(page, f"() => document.documentElement.clientWidth === {width}")
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        m = await page.evaluate(MEASURE)
        await page.screenshot(path=str(shots / f"floor-{width}.png"), full_page=True)
        assert m["overflow"] <= 0, (width, m)
        assert m["stations"] == 61, (width, m)
        assert m["printers"] >= 1, (width, m)  # the default site's printer, placed in the room too
        assert m["off"] == [], (width, m)
        assert m["broken"] == [], (width, m)
        if width >= 768:
            assert m["offScreen"] == [], (width, m)  # the whole room on screen, no scrolling
        else:
            assert m["header"] <= height * 0.2, (width, m)  # was a third of the screen
    await ctx.close()
