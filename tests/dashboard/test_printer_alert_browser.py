"""A printer problem on two stewards' floors, in headless Chromium, against a real CUPS.

A jam (``cupsdisable -r "paper jam"`` on a private cupsd, read over IPP by the
controller process) shows in both stewards' help lists with what is wrong; one
taps "I'm on it" and the other sees who took it; when the printer works again
the alert leaves both lists with no tap.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.browser import add_staff, logged_in, needs_chromium
from tests.support.cups import cups_missing_reason, private_cups
from tests.support.procs import ControllerProc, shared_clock

pytestmark = [needs_chromium, pytest.mark.skipif(cups_missing_reason() is not None, reason=str(cups_missing_reason()))]


async def test_a_printer_jam_reaches_both_stewards_and_closes_when_the_printer_works(tmp_path: Path, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    with private_cups(tmp_path) as cups:
        config = tmp_path / "site.toml"
        config.write_text(
            "printer_poll_seconds = 10\n\n[[printers]]\n"
            f'id = "PRN-1"\nuri = "ipp://127.0.0.1:{cups.port}/printers/{cups.printer}"\nx = 4\ny = 7\n',
            encoding="utf-8",
        )
        ctl = ControllerProc(tmp_path, shared_clock(speed=10.0), config=config)  # a poll every real second
        await add_staff(ctl.db, *((login, f"{login} password 1", "steward", "en") for login in ("sam", "lou")))
        await asyncio.to_thread(ctl.start)
        try:
            sam = await logged_in(browser, ctl.url, "sam", "sam password 1")
            lou = await logged_in(browser, ctl.url, "lou", "lou password 1")
            await sam.wait_for_selector("#map .tile.printer")

            await asyncio.to_thread(cups.disable, "paper jam")
            item = '.help-item[data-station="PRN-1"]'
            for page in (sam, lou):
                await page.wait_for_selector(item, timeout=15000)
                assert "Paper jam" in (await page.text_content(f"{item} .station") or ""), await page.text_content(item)
            assert "PRN-1" in (await sam.text_content("#alert") or "")

            await sam.click(f"{item} .btn-take")
            await lou.wait_for_selector(f"{item}.taken", timeout=5000)  # no tile to tell lou: the feed does
            assert "sam" in (await lou.text_content(item) or "")
            await sam.screenshot(path=str(shots / "printer-alert-taken.png"), full_page=True)

            await asyncio.to_thread(cups.enable)  # sam cleared the jam
            for page in (sam, lou):
                await page.wait_for_selector(item, state="detached", timeout=15000)
        finally:
            ctl.kill()
    [(taken_by, done)] = ctl.rows("SELECT taken_by, done FROM help_requests WHERE kind = 'printer'")
    assert taken_by == "sam"
    assert done is not None
