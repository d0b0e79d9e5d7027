"""Staff pages and their API: login, the floor, actions on stations, help.

``setup(app)`` adds everything (called once by ``create_app``):

- :mod:`controller.web.auth` — the middleware that guards every route, login, logout, ``/api/me``;
- :mod:`controller.web.actions` — ``POST /api/stations/{id}/extend|end|message|lock|unlock|open|approve|revoke``;
- :mod:`controller.web.staff_api` — ``GET|POST /api/staff``, ``POST /api/staff/{login}/…``, ``GET /admin/staff``;
- :mod:`controller.web.help_api` — ``GET /api/help``, ``POST /api/help/{id}/take|done``;
- :mod:`controller.web.quarantine_api` — ``GET /api/quarantine``, ``POST /api/quarantine/{id}/accept|discard``, ``GET /admin/quarantine``;
- here: ``GET /floor`` (the page), ``GET /api/site`` (printers, queue length, the map's size),
  ``GET /api/public/site`` (public: the site's name and time zone, for the pages' clocks),
  ``GET /i18n/{lang}.json`` (public), ``/ws/floor`` (the live feed, closed at logout),
  and ``/live`` redirected to ``/floor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from controller.web import actions, auth, enrol_api, help_api, keys, quarantine_api, staff_api
from controller.web.auth import STATIC, current
from controller.web.desk import SITE
from controller.web.printing import PRINTING
from espace.i18n import LANGS


async def floor_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "floor.html")


def _printers(db: Any) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in db.query("SELECT id, state, reasons, updated FROM printers")}


async def site(request: web.Request) -> web.Response:
    """What the map needs besides the stations: printers, queue length, the grid's size."""
    app = request.app
    settings = app[keys.SETTINGS]
    known = await app[keys.STORE].read(_printers)
    polled = app[PRINTING].statuses if PRINTING in app else {}
    printers = []
    for spec in settings.printers:
        row = known.get(spec.id, {})
        reasons = row.get("reasons") or "[]"
        item = {"id": spec.id, "x": spec.x, "y": spec.y, "state": row.get("state", "offline"), "reasons": json.loads(reasons)}
        if (status := polled.get(spec.id)) is not None:  # the printer's own words and its supply levels
            item.update(message=status.message, markers=status.as_dict()["markers"])
        printers.append(item)
    waiting = app[SITE].queue.waiting() if SITE in app else []
    xs = [s.x for s in settings.stations] + [pr.x for pr in settings.printers]
    ys = [s.y for s in settings.stations] + [pr.y for pr in settings.printers]
    return web.json_response(
        {
            "site": settings.site_name,
            "now": app[keys.CLOCK].now(),
            "queue_waiting": len(app[keys.SITE].queue.waiting()),
            "queue_accessible": sum(1 for t in waiting if t.accessible),  # shown: they wait for one station
            "printers": printers,
            "grid": {"w": max(xs, default=0) + 1, "h": max(ys, default=0) + 1},
        }
    )


async def public_site(request: web.Request) -> web.Response:
    """Public: the site's name and time zone, for every page that shows a time (common.js)."""
    settings = request.app[keys.SETTINGS]
    return web.json_response({"site": settings.site_name, "timezone": settings.timezone, "langs": list(LANGS)})


async def floor_ws(request: web.Request) -> web.WebSocketResponse:
    """A snapshot, then every station change; closed when the staff session ends."""
    app = request.app
    floor, registry = app[keys.FLOOR], app[auth.AUTH]
    session = current(request)
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    registry.sockets.setdefault(session.token_hash, set()).add(ws)
    q = floor.subscribe()
    try:
        await ws.send_str(json.dumps(floor.snapshot()))

        async def pump() -> None:
            while True:
                msg = await q.get()
                if msg.get("type") == "resync":
                    msg = floor.snapshot()
                await ws.send_str(json.dumps(msg))

        pumping = asyncio.create_task(pump())
        try:
            async for msg in ws:  # dashboards only listen
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pumping
    finally:
        floor.unsubscribe(q)
        socks = registry.sockets.get(session.token_hash)
        if socks is not None:
            socks.discard(ws)
            if not socks:
                registry.sockets.pop(session.token_hash, None)
    return ws


async def to_floor(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/floor")


def setup(app: web.Application) -> None:
    """Add the staff routes and middlewares to ``app`` (called once by ``create_app``)."""
    auth.setup(app)
    app.router.add_get("/ws/floor", floor_ws)
    app.router.add_get("/", to_floor)
    app.router.add_get("/live", to_floor)
    actions.setup(app)
    enrol_api.setup(app)
    staff_api.setup(app)
    help_api.setup(app)
    quarantine_api.setup(app)
    app.router.add_get("/floor", floor_page)
    app.router.add_get("/api/site", site)
    app.router.add_get("/api/public/site", public_site)
