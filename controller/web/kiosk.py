"""The tablet kiosk page (``/kiosk/<station>``) and the catalog as JSON (``/i18n/<lang>.json``).

Tablets that cannot run the Python agent open ``/kiosk/TAB-03#token=...`` in a kiosk
browser. The page (``dashboard/static/kiosk.html`` with ``kiosk.js`` and ``kiosk.css``) is
itself an agent: it speaks the wire protocol of :mod:`espace.protocol` over ``/ws/agent``,
keeps its outbox in ``localStorage``, enforces the grant on its own clock and clears the
visitor's storage at the end of each session. The controller only serves the files and the
strings: nothing here knows about sessions.

All three routes are public (the staff login middleware lets ``/kiosk/``, ``/i18n/`` and
``/static/`` through): the station token, not a staff login, is what the page presents.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from espace.i18n import LANGS, catalog

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
STATION_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # as espace.protocol.StationId

# The page loads only its own files and talks only to its own origin (CSP 'self' covers
# ws:// and wss:// to the same host). The token lives in the fragment, never sent as a referrer.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


async def kiosk_page(request: web.Request) -> web.StreamResponse:
    if not STATION_RE.match(request.match_info["station"]):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / "kiosk.html", headers=PAGE_HEADERS)


async def i18n_json(request: web.Request) -> web.Response:
    """Every message of one language; 404 for a language Espace does not speak."""
    lang = request.match_info["lang"]
    if lang not in LANGS:
        raise web.HTTPNotFound()
    return web.json_response(catalog(lang), headers={"Cache-Control": "max-age=300"})


def setup(app: web.Application) -> None:
    """Add the kiosk routes to ``app`` (called once by ``create_app``)."""
    app.router.add_get("/kiosk/{station}", kiosk_page)
    app.router.add_get("/i18n/{lang}.json", i18n_json)
