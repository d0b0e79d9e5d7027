"""A new station joins from the admin's floor page, in headless Chromium, with real processes.

A real agent process with no token asks to enrol; the admin's floor lists it
with the code the station shows; "Approve" lets it in with its own token (the
store keeps only the hash); "Revoke token" in the station's sheet drops it at
once and it must ask again. A steward sees no such panel.
"""

from __future__ import annotations

from pathlib import Path

from espace.enrolcode import code_for_key, code_from_digest
from tests.support.browser import add_staff, logged_in, needs_chromium
from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for

pytestmark = needs_chromium


async def _status(agent: AgentProc) -> dict:
    return await agent.call("status")


async def test_an_admin_approves_a_new_station_from_the_floor_and_revokes_it(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    ctl = ControllerProc(tmp_path, shared_clock(speed=10.0))
    await add_staff(ctl.db, ("ada", "admin password 1", "admin", "en"), ("sam", "steward password 1", "steward", "fr"))
    ctl.start()
    agent = AgentProc(tmp_path, "PC-12", "", ctl.ws_url, ctl.clock)
    agent.token = ""  # no token: the agent asks to enrol
    try:
        ada = await logged_in(browser, ctl.url, "ada", "admin password 1")
        sam = await logged_in(browser, ctl.url, "sam", "steward password 1")
        await agent.start()
        item = '.enrol-item[data-station="PC-12"]'
        await ada.wait_for_selector(item, timeout=20000)  # live: the request is published on the feed
        code = code_from_digest(ctl.rows("SELECT key_hash FROM enrolments WHERE station = 'PC-12'")[0]["key_hash"])
        shown = await ada.text_content(f"{item} .code") or ""
        assert shown.strip() == code  # the code the station shows on its screen
        assert await sam.locator("#enrol-panel").is_hidden()  # stewards do not let stations in
        assert await ada.is_visible('nav.pages a[href="/admin/staff"]')  # an admin reaches the accounts page
        assert await sam.is_hidden('nav.pages a[href="/admin/staff"]')
        await ada.screenshot(path=str(tmp_path / "enrol-request.png"), full_page=True)

        await ada.click(f"{item} .btn-approve")
        await wait_for(lambda: _connected(agent), within=60, what="the approved station to connect")
        await ada.wait_for_selector(item, state="detached", timeout=10000)  # it collected its token
        stored = ctl.rows("SELECT status, token_hash FROM stations WHERE id = 'PC-12'")[0]
        assert stored["status"] == "approved"
        assert stored["token_hash"].startswith("sha256:")
        assert [r["type"] for r in ctl.rows("SELECT type FROM events WHERE actor = 'ada'")] == ["staff.enrolment_approved"]

        # revoke from the station's sheet: dropped at once, the token is gone, it asks again
        await ada.click('#map button[data-station="PC-12"]')
        await ada.click('#sheet-actions button[data-action="revoke"]')
        await ada.click("#sheet-confirm")
        await wait_for(lambda: _disconnected(agent), within=15, what="the revoked station to be dropped")
        assert ctl.rows("SELECT token_hash FROM stations WHERE id = 'PC-12'")[0]["token_hash"] is None
        await ada.wait_for_selector(item, timeout=60000)  # a new request, to be approved again
    finally:
        await agent.kill()
        ctl.kill()


async def _connected(agent: AgentProc) -> bool:
    return (await agent.call("status"))["connected"]


async def _disconnected(agent: AgentProc) -> bool:
    return not (await agent.call("status"))["connected"]


async def test_the_floor_lists_every_request_and_a_re_enrolment_of_a_connected_station_needs_its_confirm(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    import secrets

    from tests.controller.test_enrol_attacks import attacker_hello

    ctl = ControllerProc(tmp_path, shared_clock(speed=10.0))
    await add_staff(ctl.db, ("ada", "admin password 1", "admin", "en"))
    token = ctl.add_station("PC-05")
    ctl.start()
    live = AgentProc(tmp_path, "PC-05", token, ctl.ws_url, ctl.clock)
    try:
        await live.start()
        await wait_for(lambda: _connected(live), what="the real PC-05 on line")
        ada = await logged_in(browser, ctl.url, "ada", "admin password 1")
        # from the LAN: a hello for the connected PC-05, and two for a new PC-12
        keys = {"PC-05": secrets.token_urlsafe(24), "PC-12a": secrets.token_urlsafe(24), "PC-12b": secrets.token_urlsafe(24)}
        for name, key in keys.items():
            await attacker_hello(ctl.ws_url, name[:5], key)
        await ada.wait_for_selector('.enrol-item[data-station="PC-12"] >> nth=1', timeout=20000)
        codes = {name: code_for_key(key) for name, key in keys.items()}
        for name in ("PC-12a", "PC-12b"):  # both listed, each with its own code and the address it came from
            item = f'.enrol-item[data-code="{codes[name]}"]'
            assert (await ada.text_content(f"{item} .code") or "").strip() == codes[name]
            assert "from 127.0.0.1" in (await ada.text_content(f"{item} .host") or "")
            assert "2 requests for this station" in (await ada.text_content(f"{item} .kind") or "")
        re = f'.enrol-item[data-code="{codes["PC-05"]}"]'
        assert "Re-enrolment of a connected station" in (await ada.text_content(f"{re} .kind") or "")
        await ada.screenshot(path=str(tmp_path / "enrol-several.png"), full_page=True)

        await ada.click(f"{re} .btn-approve")  # a first tap only asks
        await ada.wait_for_selector(f"{re} .btn-confirm")
        assert ctl.rows("SELECT status FROM enrolments WHERE station = 'PC-05'")[0]["status"] == "pending"
        assert await _connected(live)  # the live station is not disturbed
        await ada.click(f"{re} .btn-keep")  # changed their mind
        await ada.wait_for_selector(f"{re} .btn-approve")
        await ada.click(f"{re} .btn-approve")
        await ada.click(f"{re} .btn-confirm")
        await wait_for(lambda: ctl.rows("SELECT status FROM enrolments WHERE station = 'PC-05'")[0]["status"] == "approved",
                       within=10, what="the confirmed approval")
        assert await _connected(live)  # still, until the approved key comes for its token
        # the audit row is written just after the approval: a loaded clean-clone run read none yet
        (ev,) = await wait_for(lambda: ctl.rows("SELECT body FROM events WHERE type = 'staff.enrolment_approved'"),
                               within=10, what="the approval in the audit trail")  # fmt: skip
        assert codes["PC-05"] in ev["body"]
        assert '"reenrol": true' in ev["body"]
    finally:
        await live.kill()
        ctl.kill()
