"""The staff pages say the API's errors in the staff member's language, in headless Chromium.

The controller runs in process on a manual clock (no agents: a few seconds a test). A desk
worker who reads Dutch books a station someone else has and reads why in Dutch, with the
other booking's label and the station filled in; a steward who reads French takes a help
request a colleague took a moment before, and is refused an extension at closing time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from controller import staff
from controller.app import create_app
from controller.rules import Booking
from controller.settings import make_settings
from controller.web import keys
from espace import protocol as p
from espace.clock import ManualClock, parse_instant
from tests.support.browser import needs_chromium
from tests.support.served import Served, serve

pw = pytest.importorskip("playwright.async_api")
pytestmark = needs_chromium
PASSWORD = "a staff password 1"


def at(hhmm: str) -> float:
    return parse_instant(f"2026-11-19T{hhmm}")  # a Thursday: open 9:00-19:00


@dataclass
class Controller:
    served: Served

    @property
    def app(self) -> web.Application:
        return self.served.app

    @property
    def url(self) -> str:
        return self.served.url

    async def add_staff(self, login: str, lang: str) -> None:
        now = self.app[keys.CLOCK].now()
        await self.app[keys.STORE].write(
            lambda db: staff.add_staff(db, login, PASSWORD, "steward", lang, now)
        )


@pytest.fixture
async def controller(tmp_path: Path) -> AsyncIterator[Controller]:
    app = create_app(make_settings(database=str(tmp_path / "db")), ManualClock(at("10:00")))
    served = await serve(app)
    try:
        yield Controller(served)
    finally:
        await served.close()


async def login(browser, url: str, who: str, page_path: str):  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await ctx.new_page()
    page.set_default_timeout(5000)  # every wait here is on a page served in process
    await page.goto(f"{url}/login?next={page_path}")
    await page.fill("#login", who)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + page_path)
    return page


async def test_the_desk_says_a_clashing_booking_in_dutch(controller: Controller, browser) -> None:  # type: ignore[no-untyped-def]
    site = controller.app[keys.SITE]
    await site.add_booking(Booking("cv", "Atelier CV", at("14:00"), at("16:00"), stations=("PC-01",)))
    await site.add_booking(Booking("school", "Schoolbezoek", at("14:00"), at("16:00"), kind="tablet", count=16))
    await controller.add_staff("anke", "nl")
    page = await login(browser, controller.url, "anke", "/desk")
    await pw.expect(page.locator("#title")).to_have_text("Onthaal")

    await page.fill("input[name=label]", "Bezoek")
    await page.fill("input[name=start]", "2026-11-19T15:00")
    await page.fill("input[name=end]", "2026-11-19T17:00")
    await page.fill("input[name=stations]", "pc-02, PC-01")
    await page.click("#create")
    await pw.expect(page.locator("#error")).to_have_text("Op dat moment al gereserveerd voor ‘Atelier CV’: PC-01.")

    # every tablet is taken by the school visit: the instants come out as a local day and time
    await page.fill("input[name=stations]", "")
    await page.fill("input[name=count]", "2")
    await page.select_option("select[name=kind]", "tablet")
    await page.click("#create")
    await pw.expect(page.locator("#error")).to_have_text(
        re.compile(r"^Posten van deze soort die van .*15:00 tot .*17:00 nog vrij zijn: 0; gevraagd: 2\.$")
    )
    assert "1795" not in (await page.text_content("#error") or "")  # no epoch seconds

    # the error is said again in the language chosen afterwards
    await page.select_option("#lang", "fr")
    await pw.expect(page.locator("#error")).to_have_text(re.compile(r"^Postes de ce type encore libres du .*; demandés : 2\.$"))
    assert len(site.bookings) == 2  # nothing refused was stored
    await page.context.close()


async def test_the_floor_says_a_refused_action_in_french(controller: Controller, browser) -> None:  # type: ignore[no-untyped-def]
    app = controller.app
    clock = app[keys.CLOCK]
    clock.set(at("18:45"))  # type: ignore[attr-defined]
    now = clock.now()
    await controller.add_staff("sam", "fr")
    await app[keys.STORE].write(lambda db: db.table("help_requests").insert(
        {"id": "h1", "station": "PC-02", "kind": "visitor", "requested": now - 60}))  # fmt: skip
    floor = app[keys.FLOOR]  # a session on PC-05 until closing (its agent never answers: no socket)
    floor.live["PC-05"].connected = True
    floor.live["PC-05"].session = p.SessionInfo(session_id=p.new_id(), start=now - 600, end=at("19:00"))
    floor.changed("PC-05")
    page = await login(browser, controller.url, "sam", "/floor")
    take = '.help-item[data-help="h1"] .btn-take'
    await page.wait_for_selector(take)

    async def colleague_first(route) -> None:  # type: ignore[no-untyped-def]
        """A colleague takes the request while sam's tap is on its way (the page cannot know yet)."""
        await app[keys.STORE].write(
            lambda db: db.execute("UPDATE help_requests SET taken = ?, taken_by = 'lou' WHERE id = 'h1'", [now])
        )
        await route.continue_()

    await page.route("**/api/help/h1/take", colleague_first)
    await page.click(take)
    await pw.expect(page.locator("#toast")).to_have_text("lou s'en occupe déjà.")

    await page.click('#map button[data-station="PC-05"]')
    await page.click('#sheet-actions button[data-action="extend"]')
    await page.click("#sheet-confirm")
    await pw.expect(page.locator("#sheet-error")).to_have_text("Pas de prolongation : elle dépasserait l'heure de fermeture.")

    await page.click('#sheet-actions button[data-action="end"]')
    await page.fill("#sheet-text", "fermeture")
    await page.click("#sheet-confirm")
    await pw.expect(page.locator("#sheet-error")).to_have_text("PC-05 est hors ligne.")
    await page.context.close()


async def test_the_login_page_says_a_refusal_in_the_chosen_language(controller: Controller, browser) -> None:  # type: ignore[no-untyped-def]
    from controller.staff import LoginThrottle
    from controller.web.auth import AUTH

    controller.app[AUTH].throttle = LoginThrottle(free_failures=1, base_lock_s=60)  # locked after one miss
    await controller.add_staff("anke", "nl")
    ctx = await browser.new_context()
    page = await ctx.new_page()
    page.set_default_timeout(5000)
    await page.goto(controller.url + "/login")
    await page.click('.lang[data-lang="nl"]')
    await page.fill("#login", "anke")
    await page.fill("#password", "not the password")
    await page.click("button[type=submit]")
    await pw.expect(page.locator("#login-error")).to_have_text("Verkeerde gebruikersnaam of wachtwoord.")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await pw.expect(page.locator("#login-error")).to_have_text(re.compile(r"^Te veel pogingen\. Probeer opnieuw over [0-9]+ s\.$"))
    await ctx.close()
