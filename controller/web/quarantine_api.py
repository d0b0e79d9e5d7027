"""Events in quarantine on the dashboard (admin): listed with their reason, accepted or discarded.

- ``GET /admin/quarantine``: the page (dashboard/static/quarantine.html);
- ``GET /api/quarantine?status=waiting|accepted|discarded|all``: the events (waiting by default);
- ``POST /api/quarantine/{id}/accept`` and ``…/discard``: decide one (and the other events of its
  session that wait with it), exactly as ``espace-controller quarantine accept|discard`` does
  (the same :mod:`controller.quarantine` functions); each decision goes into the audit trail.

Admins only (``/api/quarantine`` and ``/admin`` in :data:`controller.web.auth.ROUTE_CAPABILITIES`).
"""

from __future__ import annotations

from aiohttp import web

from controller import quarantine
from controller.store.apply import EventRejected
from controller.web import keys
from controller.web.actions import audit
from controller.web.auth import STATIC, current, json_error

STATUSES = ("waiting", "accepted", "discarded", "all")


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "quarantine.html")


async def listing(request: web.Request) -> web.Response:
    status = request.query.get("status", "waiting")
    if status not in STATUSES:
        return json_error(400, "bad_status", f"status must be one of {', '.join(STATUSES)}", params={"status": status[:20]})
    store = request.app[keys.STORE]
    rows = await store.read(lambda db: quarantine.listing(db, None if status == "all" else status))
    waiting = await store.read(quarantine.count_waiting)
    return web.json_response({"now": request.app[keys.CLOCK].now(), "waiting": waiting, "events": rows})


async def _decide(request: web.Request, accept: bool) -> web.Response:
    app = request.app
    event_id = request.match_info["id"]
    actor, now = current(request).login, app[keys.CLOCK].now()
    fn = quarantine.accept if accept else quarantine.discard
    try:
        ids = await app[keys.STORE].write(lambda db: fn(db, event_id, actor, now))
    except quarantine.NotWaiting:
        return json_error(404, "no_quarantine", f"no event {event_id} waits in quarantine", params={"id": event_id[:64]})
    except EventRejected as exc:
        return json_error(409, "cannot_accept", f"{event_id} cannot be counted: {exc}", params={"id": event_id[:64]})
    status = "accepted" if accept else "discarded"
    await audit(request, f"staff.quarantine_{status}", None, {"events": ids})
    return web.json_response({"ok": True, "status": status, "events": ids})


async def accept(request: web.Request) -> web.Response:
    return await _decide(request, True)


async def discard(request: web.Request) -> web.Response:
    return await _decide(request, False)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/quarantine", page)
    r.add_get("/api/quarantine", listing)
    r.add_post("/api/quarantine/{id}/accept", accept)
    r.add_post("/api/quarantine/{id}/discard", discard)
