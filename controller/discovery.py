"""DNS-SD advertisement of the controller (filled in by the discovery work)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web


async def zeroconf_ctx(app: web.Application) -> AsyncIterator[None]:
    """Advertise ``_espace._tcp.local.`` for the app's lifetime (only when settings.zeroconf is on)."""
    yield
