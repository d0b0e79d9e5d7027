"""The tablet kiosk page (/kiosk/<station>) and the catalog as JSON (filled in by the visitor-screens work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the kiosk routes to ``app`` (called once by ``create_app``)."""
