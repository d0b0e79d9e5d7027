"""The controller application, wired in one place: ``create_app(settings)``.

The composition root: it builds every long-lived object (store, floor, site,
staff sessions, printing state, metrics) and sets each under its key from
``controller/web/keys.py``; the web modules only add their routes and
middlewares. Lifetimes are cleanup contexts, started in the order added:
zeroconf (closed last), the store, the site's rule state and sweeper, the
ticker, the collector's watch; then those the web modules add (printers,
retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from controller import discovery, stations
from controller.floor.floor import Floor
from controller.metrics import Metrics
from controller.settings import Settings
from controller.site import Site
from controller.store import Store
from controller.web import (
    agent_ws,
    dashboard,
    desk,
    floor_api,
    forwarded,
    headers,
    keys,
    kiosk,
    printing,
    reports,
)
from controller.web.auth import Auth
from controller.web.printing import Printing
from espace import i18n
from espace import protocol as p
from espace.clock import Clock, SystemClock

log = logging.getLogger(__name__)

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"


def create_app(settings: Settings, clock: Clock | None = None, *, create_store: bool = True) -> web.Application:
    """``create_store``: make the store's folder if it is missing (``serve`` passes its ``--create``)."""
    app = web.Application(client_max_size=1024**2)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.STORE] = Store(settings.database, create=create_store, exclusive=True)  # one controller per store
    app[keys.FLOOR] = Floor(settings, app[keys.CLOCK])
    app[keys.METRICS] = Metrics()
    app[keys.SITE] = Site(settings, app[keys.CLOCK], app[keys.STORE], app[keys.FLOOR])
    app[keys.AUTH] = Auth()
    app[keys.PRINTING] = Printing()
    if settings.zeroconf:
        app.cleanup_ctx.append(discovery.zeroconf_ctx)  # first in, so closed last: goodbye packets go out
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_site_ctx)
    app.cleanup_ctx.append(_ticker_ctx)
    app.cleanup_ctx.append(_gc_ctx)

    forwarded.setup(app, settings.trusted_proxies)  # the first middleware: the others see the real client
    headers.setup(app)  # one security-header policy for every response
    app.router.add_get(p.WS_PATH, agent_ws.agent_ws)
    app.router.add_get("/api/floor", floor_api.floor_json)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_static("/static", DASHBOARD / "static", name="static")
    desk.setup(app)
    kiosk.setup(app)
    printing.setup(app)
    reports.setup(app)
    dashboard.setup(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store, settings, clock, floor = app[keys.STORE], app[keys.SETTINGS], app[keys.CLOCK], app[keys.FLOOR]
    await store.open()
    now = clock.now()
    await store.write(lambda db: stations.sync_stations(db, settings, now))
    running = await store.read(
        lambda db: list(db.query("SELECT id, station, start, planned_end, cause FROM sessions WHERE end IS NULL"))
    )
    locks = await store.read(lambda db: list(db.query("SELECT id, locked_reason FROM stations WHERE locked_reason IS NOT NULL")))
    for row in running:
        live = floor.live.get(row["station"])
        if live is not None:
            live.session = p.SessionInfo(session_id=row["id"], start=row["start"], end=row["planned_end"], cause=row["cause"])
    for row in locks:
        if row["id"] in floor.live:
            floor.live[row["id"]].locked = row["locked_reason"]
    log.info("store %s open: %d sessions running", settings.database, len(running))
    yield
    # close agents' sockets first so that no write arrives after the store is gone
    for conn in list(floor.conns.values()):
        with contextlib.suppress(Exception):
            await conn.close(1001, "controller shutting down")
    await store.close()


async def _site_ctx(app: web.Application) -> AsyncIterator[None]:
    """The site's bookings, holds and queue from the store (open by now), and its sweeper."""
    site = app[keys.SITE]
    await asyncio.to_thread(i18n.preload, app[keys.SETTINGS].timezone)  # not on the loop at 18:45
    await site.start()
    yield
    await site.stop()


async def _gc_ctx(app: web.Application) -> AsyncIterator[None]:
    """Time the collector's pauses while the app runs (shown at /metrics)."""
    watch = app[keys.METRICS].gc.install()
    yield
    watch.uninstall()


async def _ticker_ctx(app: web.Application) -> AsyncIterator[None]:
    floor = app[keys.FLOOR]

    store = app[keys.STORE]

    async def tick() -> None:
        n = 0
        while True:
            await asyncio.sleep(0.5)  # transport cadence, not policy: re-derives time-based states
            floor.tick()
            n += 1
            if n % 10 == 0:  # a token revoked from the command line drops the live link within seconds
                revoked = await store.read(lambda db: [r[0] for r in db.execute("SELECT id FROM stations WHERE status = 'revoked'")])
                for station in revoked:
                    conn = floor.conns.get(station)
                    if conn is not None:
                        await conn.close(p.CloseCode.UNAUTHORISED, "token revoked")

    task = asyncio.create_task(tick(), name="floor-ticker")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _health(request: web.Request) -> web.Response:
    """200 when the store answers and can commit; 503 with the reason otherwise (a full disk, a failing commit)."""
    store = request.app[keys.STORE]
    try:
        await store.read(lambda db: db.execute("SELECT 1").fetchone())
        problem = await store.health()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        problem = str(exc)
    if problem is not None:
        return web.json_response({"ok": False, "store": problem}, status=503)
    floor = request.app[keys.FLOOR]
    return web.json_response({"ok": True, "stations_connected": len(floor.conns), "now": request.app[keys.CLOCK].now()})


async def _metrics(request: web.Request) -> web.Response:
    floor = request.app[keys.FLOOR]
    store = request.app[keys.STORE]
    gauges = {"stations_connected": len(floor.conns), "store_commits": store.commits, "store_writes": store.writes}
    return web.Response(text=request.app[keys.METRICS].render(gauges), content_type="text/plain")
