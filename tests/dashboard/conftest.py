"""Fixtures of the browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.browser import chromium


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with chromium() as b:
        yield b
