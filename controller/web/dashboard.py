"""Staff pages and their API: login, the floor, actions on stations (filled in by the dashboard work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the staff routes and middlewares to ``app`` (called once by ``create_app``)."""
