"""Staff accounts from the admin page (/admin/staff), in headless Chromium, against a real controller process.

An admin who works in Dutch adds a steward and disables it: the page speaks Dutch
(the catalog, in the language of the admin's account), an invalid login is refused
in Dutch, the new steward can log in, and once disabled cannot, and the changes are
in the audit trail.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.browser import add_staff, logged_in, needs_chromium, wait_js
from tests.support.procs import ControllerProc, shared_clock

pytestmark = needs_chromium


def _login_status(url: str, login: str, password: str) -> int:
    req = urllib.request.Request(
        url + "/login", data=json.dumps({"login": login, "password": password}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_a_dutch_speaking_admin_adds_a_steward_then_disables_it(tmp_path: Path, shots: Path, browser) -> None:  # type: ignore[no-untyped-def]
    ctl = ControllerProc(tmp_path, shared_clock(speed=1.0))
    await add_staff(ctl.db, ("ada", "admin password 1", "admin", "nl"))
    ctl.start()
    try:
        page = await logged_in(browser, ctl.url, "ada", "admin password 1")
        await page.goto(ctl.url + "/admin/staff")
        await page.wait_for_selector('#accounts tr[data-login="ada"]')
        assert await page.text_content("h1") == "Personeelsaccounts"
        assert await page.evaluate("document.documentElement.lang") == "nl"
        assert "(u)" in (await page.text_content('#accounts tr[data-login="ada"] .login') or "")

        await page.fill("#new-login", "Bad Login")
        await page.fill("#new-password", "steward password 1")
        await page.click("#create")
        await wait_js(page, "document.getElementById('error').textContent.includes('De gebruikersnaam telt 2 tot 32 tekens')")

        await page.fill("#new-login", "sam")
        await page.select_option("#new-role", "steward")
        await page.select_option("#new-lang", "fr")
        await page.click("#create")
        row = '#accounts tr[data-login="sam"]'
        await page.wait_for_selector(row)
        assert await page.text_content("#notice") == "Account sam aangemaakt."
        assert await page.text_content("#error") == ""
        assert await page.text_content(f"{row} .status") == "Actief"
        assert await page.eval_on_selector(f"{row} select.roles", "s => s.selectedOptions[0].textContent") == "Begeleider"
        assert _login_status(ctl.url, "sam", "steward password 1") == 200

        # a role change asks first; "no" puts the role back and changes nothing
        await page.select_option(f"{row} select.roles", "admin")
        ask = '#accounts tr[data-confirm="sam"]'
        await page.wait_for_selector(ask)
        assert await page.text_content(f"{ask} .question") == "sam de rol Beheerder geven?"
        await page.click(f"{ask} .btn-no")
        await page.wait_for_selector(ask, state="detached")
        assert await page.eval_on_selector(f"{row} select.roles", "s => s.value") == "steward"
        # disabling asks too; only "yes" does it
        await page.click(f"{row} .btn-disable")
        await page.wait_for_selector(ask)
        assert _login_status(ctl.url, "sam", "steward password 1") == 200
        await page.click(f"{ask} .btn-yes")
        await page.wait_for_selector(f"{row}.disabled .btn-enable")
        assert await page.text_content(f"{row} .status") == "Uitgeschakeld"
        assert await page.text_content("#notice") == "sam is uitgeschakeld: de sessies zijn afgesloten."
        await page.screenshot(path=str(shots / "staff-nl.png"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})  # the table fits a phone: no side scroll
        await wait_js(page, "() => document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=str(shots / "staff-nl-phone.png"), full_page=True)
        assert _login_status(ctl.url, "sam", "steward password 1") == 401

        rows = ctl.rows("SELECT type, actor, body FROM events WHERE type LIKE 'staff.account_%' ORDER BY received")
        assert [(r["type"], r["actor"], json.loads(r["body"])["login"]) for r in rows] == [
            ("staff.account_added", "ada", "sam"),
            ("staff.account_disabled", "ada", "sam"),
        ]
        assert not [r for r in rows if "steward password" in r["body"]]
    finally:
        ctl.kill()
