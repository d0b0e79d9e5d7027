"""Debian's Chromium, headless, driven by Playwright (which never downloads a browser here)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched headless browser, closed after the block."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def wait_js(page: Any, expression: str, within: float = 15.0) -> Any:
    """Poll a JavaScript predicate until it is truthy, from Python.

    Not ``page.wait_for_function``: its in-page polling compiles the predicate with
    ``eval``, which the pages' Content-Security-Policy (no 'unsafe-eval') refuses as
    soon as the first check is false. ``page.evaluate`` goes through the DevTools
    protocol, which the page's CSP does not govern.
    """
    import asyncio
    import time

    deadline = time.monotonic() + within
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {expression}")
        await asyncio.sleep(0.05)


async def add_staff(db: Any, *accounts: tuple[str, str, str, str]) -> None:
    """Staff accounts ``(login, password, role, lang)`` straight into a controller's store (before it starts)."""
    import time

    from controller import staff
    from controller.store import Store

    store = Store(db)
    await store.open()
    try:
        for login, password, role, lang in accounts:
            await store.write(lambda d, a=(login, password, role, lang): staff.add_staff(d, *a, time.time()))
    finally:
        await store.close()


async def logged_in(browser: Any, url: str, login: str, password: str, viewport: dict[str, int] | None = None) -> Any:
    """A new browser context logged in as ``login``, on the floor page, live."""
    ctx = await browser.new_context(viewport=viewport or {"width": 1280, "height": 860})
    page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.fill("#login", login)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/floor")
    await page.wait_for_selector("#conn:not(.down)")
    return page
