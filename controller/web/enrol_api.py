"""New stations on the dashboard (admin): the enrolment requests, approved or rejected with a tap.

``GET /api/enrolments`` lists the requests (pending, and approved ones whose
station has not yet come back for its token): several for one station each on
its own line, each with the code the station shows on its screen, the address
it came from, and whether it would re-enrol a station that holds a live token
(``reenrol``; ``connected`` if that station is on line now).
``POST /api/enrolments/{station}/approve`` with ``{"code": "K7QM-2P9X-D4TB-8WZE"}``
approves the request with that code, and only its key collects the token; a
re-enrolment needs ``"reenrol": true`` as well. ``…/reject`` rejects the one with
``code``, or every pending one of the station without it. Both decide exactly
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
from controller.web.body import BadBody, read_json
from espace import protocol as p


def publish(app: web.Application, station: str, status: str) -> None:
    app[keys.FLOOR].publish({"type": "enrolment", "now": app[keys.CLOCK].now(), "station": station, "status": status})


def _open_requests(db: Any) -> list[dict[str, Any]]:
    return [r for r in enrolment.pending(db) if r["status"] in ("pending", "approved")]


async def list_requests(request: web.Request) -> web.Response:
    rows = await request.app[keys.STORE].read(_open_requests)
    conns = request.app[keys.FLOOR].conns
    for r in rows:
        r["connected"] = r["station"] in conns
    return web.json_response({"now": request.app[keys.CLOCK].now(), "enrolments": rows})


# what each refusal of enrolment.decide answers; the pages show err.<error>
_REFUSED: dict[str, dict[str, Any]] = {
    "no_code": {"status": 400, "error": "no_code", "message": "an approval names the code the station shows"},
    "bad_code": {"status": 400, "error": "bad_code", "message": "not a station code (16 characters, e.g. K7QM-2P9X-D4TB-8WZE)"},
    "no_request": {"status": 404, "error": "no_enrolment", "message": "no pending request from this station with that code"},
    "ambiguous": {"status": 409, "error": "ambiguous", "message": "two requests for this station show the same code: reject them"},
    "confirm_reenrol": {"status": 409, "error": "confirm_reenrol", "message": "this station is connected with its own token: confirm the re-enrolment"},
    "already_approved": {"status": 409, "error": "already_approved", "message": "another request of this station is approved and not yet collected"},
}


async def _decide(request: web.Request, approve: bool) -> web.Response:
    app = request.app
    station = request.match_info["station"]
    actor, now = current(request).login, app[keys.CLOCK].now()
    try:
        body = await read_json(request) if request.can_read_body else {}
    except BadBody as exc:
        return json_error(400, "bad_body", str(exc))
    if not isinstance(body, dict):
        return json_error(400, "bad_body", "the body is a JSON object")
    code, reenrol = body.get("code"), body.get("reenrol", False)
    if (code is not None and not isinstance(code, str)) or not isinstance(reenrol, bool):
        return json_error(400, "bad_body", "code is a string and reenrol true or false")

    result = await app[keys.STORE].write(lambda db: enrolment.decide(db, station, approve, actor, now, code=code, reenrol=reenrol))
    outcome = result["outcome"]
    if outcome in _REFUSED:
        refusal = _REFUSED[outcome]
        return json_error(refusal["status"], refusal["error"], refusal["message"], params={"station": station})
    for asked in result["requests"]:
        await audit(request, f"staff.enrolment_{outcome}", station, {
            "fingerprint": asked["fingerprint"], "hostname": asked["hostname"], "peer": asked["peer"], "reenrol": asked["reenrol"],
        })  # fmt: skip
    publish(app, station, outcome)
    return web.json_response({"ok": True, "status": outcome})


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
        await conn.close(p.CloseCode.UNAUTHORISED, "station revoked")
    publish(app, station, "revoked")
    return web.json_response({"ok": True, "status": "revoked"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/enrolments", list_requests)
    r.add_post("/api/enrolments/{station}/approve", approve)
    r.add_post("/api/enrolments/{station}/reject", reject)
    r.add_post("/api/stations/{station}/approve", approve)
    r.add_post("/api/stations/{station}/revoke", revoke)
