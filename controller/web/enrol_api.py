"""New stations on the dashboard (admin): the enrolment requests, approved or rejected with a tap.

``GET /api/enrolments`` lists the requests (pending, and approved ones whose
station has not yet come back for its token), each with the short code the
station shows on its screen, so that the admin approves the right machine.
``POST /api/enrolments/{station}/approve`` and ``…/reject`` decide one, exactly
as ``espace-controller station approve|reject`` does (the same
:mod:`controller.enrolment` functions), and go into the audit trail;
``POST /api/stations/{station}/approve`` is the same approval.
``POST /api/stations/{station}/revoke`` is ``station revoke``: the token hash is
cleared (the token can never be used again, even if the station is approved
later: it must enrol anew), and the live link is closed at once. Every change
is published on the floor feed as ``{"type": "enrolment"}`` so that each
admin's list follows; the agent's WebSocket publishes the same when a station
asks, and when an approved station collects its token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controller import enrolment
from controller.floor.floor import Floor
from controller.web import keys
from controller.web.actions import audit
from controller.web.auth import current, json_error


def publish(app: web.Application, station: str, status: str) -> None:
    app[keys.FLOOR].publish({"type": "enrolment", "now": app[keys.CLOCK].now(), "station": station, "status": status})


def _open_requests(db: Any) -> list[dict[str, Any]]:
    return [r for r in enrolment.pending(db) if r["status"] in ("pending", "approved")]


async def list_requests(request: web.Request) -> web.Response:
    rows = await request.app[keys.STORE].read(_open_requests)
    return web.json_response({"now": request.app[keys.CLOCK].now(), "enrolments": rows})


async def _decide(request: web.Request, approve: bool) -> web.Response:
    app = request.app
    station = request.match_info["station"]
    actor, now = current(request).login, app[keys.CLOCK].now()

    def decide(db: Any) -> dict[str, Any] | None:  # one write: the request as it was, if it was pending
        asked = next((r for r in enrolment.pending(db) if r["station"] == station and r["status"] == "pending"), None)
        return asked if asked is not None and enrolment.decide(db, station, approve, actor, now) else None

    asked = await app[keys.STORE].write(decide)
    if asked is None:
        return json_error(404, "no_enrolment", f"no pending request from {station}", params={"station": station})
    status = "approved" if approve else "rejected"
    await audit(request, f"staff.enrolment_{status}", station, {"fingerprint": asked["fingerprint"], "hostname": asked["hostname"]})
    publish(app, station, status)
    return web.json_response({"ok": True, "status": status})


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)


async def revoke(request: web.Request) -> web.Response:
    app = request.app
    station = request.match_info["station"]
    if not await app[keys.STORE].write(lambda db: enrolment.revoke(db, station)):
        return json_error(404, "no_station", f"no station {station}", params={"station": station})
    await audit(request, "staff.revoke", station, {"outcome": "ok"})
    floor: Floor = app[keys.FLOOR]
    conn = floor.conns.get(station)
    if conn is not None:
        await conn.close(4401, "station revoked")
    publish(app, station, "revoked")
    return web.json_response({"ok": True, "status": "revoked"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/enrolments", list_requests)
    r.add_post("/api/enrolments/{station}/approve", approve)
    r.add_post("/api/enrolments/{station}/reject", reject)
    r.add_post("/api/stations/{station}/approve", approve)
    r.add_post("/api/stations/{station}/revoke", revoke)
