"""The back office's reports page and exports (filled in by the reports work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the reports routes to ``app`` (called once by ``create_app``)."""
