"""Printer status polling and print-server accounting (filled in by the printing work)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the printer poller, the print-server log and their routes to ``app`` (called once by ``create_app``)."""
