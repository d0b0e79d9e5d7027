"""A lock-screen escape on the floor, in headless Chromium, against a real controller process.

A station (a WebSocket client speaking the agent protocol) reports that its session panel
was closed and that it ended the session; the tile and the alerts list of a French and a
Dutch steward say so in their language, screen readers hear it politely, a second escape
folds into the same alert with a count, and one steward dismisses it from the station's
sheet: it leaves both floors.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from espace import protocol as p
from tests.support.browser import add_staff, logged_in, needs_chromium, wait_js
from tests.support.procs import ControllerProc, shared_clock

pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium

TILE = '#map button[data-station="PC-03"]'
ITEM = '#escape-list .escape-item[data-station="PC-03"]'


async def test_an_escape_reaches_the_floor_in_french_and_dutch_and_a_steward_dismisses_it(tmp_path: Path, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    clock = shared_clock(speed=1.0)
    ctl = ControllerProc(tmp_path, clock)
    await add_staff(ctl.db, ("sam", "sam password 1", "steward", "fr"), ("lou", "lou password 1", "steward", "nl"))
    token = await asyncio.to_thread(ctl.add_station, "PC-03")
    await asyncio.to_thread(ctl.start)
    try:
        sam = await logged_in(browser, ctl.url, "sam", "sam password 1")
        lou = await logged_in(browser, ctl.url, "lou", "lou password 1")
        await sam.wait_for_selector(TILE)
        async with aiohttp.ClientSession() as http, http.ws_connect(ctl.ws_url) as ws:
            await ws.send_str(p.encode(p.Hello(station="PC-03", token=token, incarnation="escape-test")))
            welcome = p.decode_from_controller((await ws.receive(timeout=10)).data)
            assert isinstance(welcome, p.Welcome)

            async def escape(seq: int, what: str, action: str) -> float:
                at = clock.now()
                await ws.send_str(p.encode(p.EscapeAttempt(id=f"esc-{seq}", seq=seq, at=at, what=what, action=action)))  # type: ignore[arg-type]
                while True:  # the ack comes after the commit; a rules push may come first
                    m = p.decode_from_controller((await ws.receive(timeout=10)).data)
                    if isinstance(m, p.EventAck | p.EventReject):
                        assert isinstance(m, p.EventAck), m
                        return at

            at = await escape(1, "screen_closed_in_session", "session_ended")
            hhmm = await sam.evaluate(f"new Date({at} * 1000).toLocaleTimeString('fr-BE', {{hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'Europe/Brussels'}})")
            fr = f"Écran de session fermé — session fermée à {hhmm}"
            nl = f"Sessiescherm gesloten — sessie beëindigd om {hhmm}"
            for page, text in ((sam, fr), (lou, nl)):
                await wait_js(page, f"(document.querySelector('{TILE} .prob')?.textContent || '').includes({text!r})")
                assert text in (await page.text_content(f"{ITEM} .what") or "")
                said = await page.text_content("#escape-said") or ""
                assert "PC-03" in said, said
                assert text in said, said
                assert await page.get_attribute("#escape-said", "aria-live") == "polite"
            await sam.screenshot(path=str(shots / "escape-fr.png"), full_page=True)
            await lou.screenshot(path=str(shots / "escape-nl.png"), full_page=True)

            await escape(2, "focus_lost", "refocused")  # a second one: the same alert, counted
            await wait_js(sam, f"(document.querySelector('{ITEM} .what')?.textContent || '').includes('2 fois')")
            assert await sam.locator(ITEM).count() == 1
            assert "Écran de verrouillage passé au second plan" in (await sam.text_content(f"{TILE} .prob") or "")
            await wait_js(lou, f"(document.querySelector('{ITEM} .what')?.textContent || '').includes('2 keer')")

            await sam.click(TILE)  # the station's sheet: dismiss, then confirm
            await sam.click('#sheet-actions button[data-action="dismiss-escape"]')
            await sam.click("#sheet-confirm")
            for page in (sam, lou):
                await page.wait_for_selector(ITEM, state="detached", timeout=10000)
                await wait_js(page, f"(document.querySelector('{TILE} .prob')?.textContent ?? 'x') === ''")
            assert await sam.is_hidden("#escape-panel")
    finally:
        ctl.kill()
    assert [tuple(r) for r in ctl.rows("SELECT what, action FROM escapes ORDER BY at, id")] == [
        ("screen_closed_in_session", "session_ended"), ("focus_lost", "refocused")
    ]
    assert [r[0] for r in ctl.rows("SELECT actor FROM events WHERE type = 'staff.dismiss_escape'")] == ["sam"]
