"""The queue as the floor lives it, in headless Chromium with real processes.

The desk issues a ticket while every connected PC is busy; the visitor at PC-01
leaves; PC-01 is held and the public "now serving" screen calls the ticket to
it; the ticket's holder types it on PC-01's lock screen (the session screen's
``start`` with the ticket) and gets the session; the call leaves the screen.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import add_staff, logged_in, needs_chromium
from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for

pytestmark = needs_chromium


async def test_a_ticket_is_called_to_the_freed_pc_on_the_public_screen_and_claimed_there(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    clock = shared_clock(start="2026-11-19T10:00", speed=10.0)
    ctl = ControllerProc(tmp_path, clock)
    await add_staff(ctl.db, ("dee", "desk password 1", "steward", "en"))
    token = ctl.add_station("PC-01")
    ctl.start()
    pc = AgentProc(tmp_path, "PC-01", token, ctl.ws_url, clock)
    await pc.start()
    try:
        await wait_for(lambda: _connected(pc), what="PC-01 to connect")
        assert (await pc.call("start"))["ok"]  # the only connected PC is busy

        desk = await logged_in(browser, ctl.url, "dee", "desk password 1")
        await desk.click('nav.pages a[href="/desk"]')  # from the floor to the desk, and a way back
        await desk.wait_for_url(ctl.url + "/desk")
        await desk.wait_for_selector('#back[href="/floor"]:text("Back to the floor")')
        screen = await (await browser.new_context(viewport={"width": 1920, "height": 1080})).new_page()
        await screen.goto(ctl.url + "/now-serving")
        await screen.wait_for_selector("#none:not([hidden])")  # nobody called yet

        # the site has PCs and tablets: the desk says which the visitor needs (a PC unless told)
        await desk.wait_for_selector('#ticket-kind:not([hidden]) legend:text-is("The visitor needs")')
        assert await desk.is_checked('#ticket-kind input[value="pc"]')
        await desk.click("#issue")
        await desk.wait_for_selector("#waiting li")
        # the desk shows the ticket once the controller holds it; its row reaches the store just after
        (ticket,) = await wait_for(lambda: ctl.rows("SELECT code, kind FROM queue_tickets"), what="the ticket in the store")
        code = ticket["code"]
        assert ticket["kind"] == "pc"
        await desk.wait_for_selector(f'#issued:has-text("{code}")')  # the desk says the code (a loaded run read it empty)

        await pc.call("end")  # the visitor leaves: PC-01 resets, then is held for the ticket
        row = f'#calls tbody tr:has(td.code:text-is("{code}"))'
        await screen.wait_for_selector(row, timeout=20000)
        assert "PC-01" in (await screen.text_content(row) or "")
        await desk.wait_for_selector("#called li")
        await screen.screenshot(path=str(tmp_path / "now-serving.png"))

        refused = await pc.call("start", ticket="ZZZ9")  # a wrong ticket does not take the held PC
        assert not refused["ok"]
        claimed = await pc.call("start", ticket=code)
        assert claimed["ok"], claimed
        await screen.wait_for_selector(row, state="detached", timeout=20000)
        assert ctl.rows("SELECT code FROM queue_tickets WHERE code = ?", code) == []  # a claimed code is forgotten
        (wait,) = ctl.rows("SELECT served FROM queue_waits")  # only its waiting time stays, for the reports
        assert wait["served"] is not None

        await desk.click('#ticket-kind label:has-text("a tablet")')
        await desk.click("#issue")
        await desk.wait_for_selector('#waiting li:has-text("tablet")')
        (tab,) = await wait_for(lambda: ctl.rows("SELECT kind, station FROM queue_tickets"), what="the tablet ticket")
        assert (tab["kind"], tab["station"]) == ("tablet", None)  # no tablet connected: it waits for one
    finally:
        await pc.kill()
        ctl.kill()


async def _connected(agent: AgentProc) -> bool:
    return (await agent.call("status"))["connected"]
