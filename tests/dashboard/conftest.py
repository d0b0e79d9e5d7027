"""Fixtures of the browser tests: a launched Chromium, and axe-core from npm to check pages with."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium

AXE_VERSION = "4"  # npm's axe-core 4.x; its rules are WCAG 2.x A/AA


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """``axe.min.js`` from npm, installed once into a folder outside the repository (no node_modules
    committed); the test is skipped, saying why, where npm is missing or the registry unreachable."""
    folder = Path(os.environ.get("ESPACE_AXE_DIR") or Path(tempfile.gettempdir()) / "espace-axe-core")
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core checks need npm (Debian package npm) to install axe-core")
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not script.exists():
            pytest.skip(f"could not install axe-core from npm (registry unreachable?): {done.stderr.strip()[-300:]}")
    return script


async def axe_violations(page: Any, script: Path) -> list[str]:
    """The serious and critical axe-core violations of the page as it is now, one line each.

    The page's context must be made with ``bypass_csp=True``: the pages' Content-Security-Policy
    refuses the inline script that ``add_script_tag`` puts in."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(script))
    found = await page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}"
        " (${v.nodes.length} nodes) ${v.nodes[0].failureSummary.slice(0, 200)}`)"
    )
    return list(found)
