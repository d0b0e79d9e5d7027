"""Events in quarantine from the admin page (/admin/quarantine), in headless Chromium, against a real controller.

A station's print job from 40 days ago waits in quarantine. An English-speaking admin finds the page
from the floor's links, reads the reason, switches to French and Dutch (the page follows), and on a
phone-sized screen accepts the event: it leaves the list and counts in the store. A steward may not
see the list.
"""

from __future__ import annotations

from pathlib import Path

from controller import stations
from controller.settings import make_settings
from controller.store import Store
from controller.store.apply import apply_event
from espace import protocol as p
from tests.support.browser import add_staff, logged_in, needs_chromium, wait_js
from tests.support.procs import ControllerProc, rows, shared_clock

pytestmark = needs_chromium


async def _quarantined_print(db: Path, now: float) -> str:
    store = Store(db)
    await store.open()
    try:
        await store.write(lambda d: stations.sync_stations(d, make_settings(), now))
        old = now - 40 * 86400
        ev = p.PrintJob(id=p.new_id(), seq=1, at=old, job="12", printer="PRN-1", pages=3, source="cups")
        outcome = await store.write(lambda d: apply_event(d, "PC-05", ev, now))
        assert outcome.startswith("quarantined")
        return ev.id
    finally:
        await store.close()


async def test_an_admin_reads_and_accepts_a_quarantined_event_in_three_languages(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    clock = shared_clock(speed=1.0)
    ctl = ControllerProc(tmp_path, clock)
    event_id = await _quarantined_print(ctl.db, clock.now())
    await add_staff(ctl.db, ("ada", "admin password 1", "admin", "en"), ("sam", "steward password 1", "steward", "fr"))
    ctl.start()
    try:
        page = await logged_in(browser, ctl.url, "ada", "admin password 1", viewport={"width": 390, "height": 844})
        link = page.locator('a[href="/admin/quarantine"]')
        await link.wait_for(state="attached")
        if await page.locator("#menu").is_visible():  # at a phone's width the other pages are in the menu
            await page.click("#menu")
        await link.wait_for()
        assert await link.text_content() == "Events in quarantine"
        await link.click()
        row = f'#events tr[data-id="{event_id}"]'
        await page.wait_for_selector(row)
        assert await page.text_content("h1") == "Events in quarantine"
        assert "40 days before the controller's clock" in (await page.text_content(f"{row} .reason") or "")
        assert await page.text_content(f"{row} td:nth-child(3)") == "print job"
        for lang, title, kind in (("fr", "Événements en quarantaine", "impression"), ("nl", "Gebeurtenissen in quarantaine", "afdruk")):
            await page.select_option("#lang", lang)
            await wait_js(page, f"document.querySelector('h1').textContent === {title!r}")
            assert await page.text_content(f"{row} td:nth-child(3)") == kind
        # the buttons fit the phone's width
        box = await page.locator(f"{row} .btn-accept").bounding_box()
        assert box is not None
        assert box["width"] > 0
        await page.click(f"{row} .btn-accept")
        await wait_js(page, "document.getElementById('notice').textContent.includes('aanvaard')")
        assert await page.text_content("#notice") == "1 gebeurtenis(sen) van PC-05 aanvaard: ze tellen nu mee."
        await wait_js(page, "document.querySelector('#events').textContent.includes('Geen gebeurtenissen hier.')")
        assert rows(ctl.db, "SELECT pages FROM print_jobs WHERE station = 'PC-05'")[0]["pages"] == 3

        steward = await logged_in(browser, ctl.url, "sam", "steward password 1")
        assert await steward.locator('a[href="/admin/quarantine"]').is_hidden()
        answer = await steward.request.get(ctl.url + "/api/quarantine")
        assert answer.status == 403
    finally:
        ctl.kill()
