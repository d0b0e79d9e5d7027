"""Bookings, the queue and the public "now serving" page (filled in by the time-slot work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the site's rule state, its sweeper and the desk routes to ``app`` (called once by ``create_app``)."""
