"""Stewards' actions on a station and on help requests.

Each action is checked against the floor (is there a session to extend?),
sent to the station as a protocol command, and written to the audit trail
(``events``: a new id, ``seq`` NULL, type ``staff.<action>``, the steward's
login as ``actor``, the request and its outcome as ``body``), whatever the
outcome. Answers: 200 with ``{"ok": true, ...}``; 409 when the rules or the
station refuse, 503 when the station is offline, with ``error`` and
``message`` saying why in words a steward can act on, and the details as ``params``
(``{"station": "PC-01"}``) for the floor page to say it in the steward's language.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from controller.site import extension_for
from controller.station_rules import closing_after
from controller.web import keys
from controller.web.auth import current
from controller.web.body import BadBody, read_json
from controller.web.errors import json_error, json_failure
from espace import protocol as p
from espace.grant import ExtensionRefused, grant_end

MAX_REASON = 200
MAX_MESSAGE = 500


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await read_json(request)
    except BadBody:
        raise json_failure(400, "bad_json", "body must be JSON") from None
    if not isinstance(body, dict):  # [null, null] used to pass as {}: unlock ran on it
        raise json_failure(400, "bad_json", "body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, limit: int, required: bool) -> str | web.Response:
    value = body.get(name, "")
    if not isinstance(value, str):
        return json_error(400, f"bad_{name}", f"{name} must be text")
    value = value.strip()
    if required and not value:
        return json_error(400, f"missing_{name}", f"give a {name}")
    if len(value) > limit:
        return json_error(400, f"long_{name}", f"{name}: at most {limit} characters", params={"max": limit})
    return value


async def audit(request: web.Request, type_: str, station: str | None, body: dict[str, Any], session_id: str | None = None) -> None:
    actor = current(request).login
    now = request.app[keys.CLOCK].now()
    row = {
        "id": p.new_id(), "station": station, "seq": None, "type": type_, "at": now, "received": now,
        "session_id": session_id, "actor": actor, "body": json.dumps(body, sort_keys=True),
    }  # fmt: skip
    await request.app[keys.STORE].write(lambda db: db.table("events").insert(row))


async def _send(request: web.Request, station: str, cmd: p.Command, type_: str, body: dict[str, Any], session_id: str | None = None) -> web.Response | None:
    """Send ``cmd``; audit it with its outcome; None on success, else the error response."""
    floor = request.app[keys.FLOOR]
    ack = await floor.command(station, cmd)
    if ack is None:
        outcome, resp = "offline", json_error(503, "offline", f"{station} is offline or did not answer", params={"station": station})
    elif not ack.ok:
        outcome, resp = "refused", json_error(409, "station_refused", f"{station} refused: {ack.error}", detail=ack.error,
                                              params={"station": station})  # fmt: skip
    else:
        outcome, resp = "ok", None
    await audit(request, type_, station, {**body, "outcome": outcome}, session_id)
    return resp


def _station(request: web.Request) -> str:
    station = request.match_info["station"]
    if station not in request.app[keys.FLOOR].live:
        raise json_failure(404, "no_station", f"no station {station}", params={"station": station})
    return station


async def _refused(request: web.Request, station: str, type_: str, body: dict[str, Any], error: str, message: str) -> web.Response:
    await audit(request, type_, station, {**body, "outcome": "refused", "why": error})
    return json_error(409, error, message, params={"station": station})


async def extend(request: web.Request) -> web.Response:
    station, body = _station(request), await _body(request)
    app = request.app
    live, now = app[keys.FLOOR].live[station], app[keys.CLOCK].now()
    override = body.get("override") is True
    if live.session is None:
        return await _refused(request, station, "staff.extend", {"override": override}, "no_session", f"{station} has no session")
    # the site's rule: its queue, the station's next booking, closing (espace.grant.decide_extension)
    decision = extension_for(app[keys.SITE], station, now, override=override, actor=current(request).login)
    sid = live.session.session_id
    if isinstance(decision, ExtensionRefused):
        words = {"ended": "the session is over", "closing": "it would run past closing", "booking": "a booking starts on this station",
                 "limit": "the extension was already given", "queue": "visitors are waiting"}  # fmt: skip
        return await _refused(request, station, "staff.extend", {"override": override, "reason": decision.reason},
                              f"extension_{decision.reason}", f"no extension: {words[decision.reason]}")  # fmt: skip
    body_ = {"end": decision.end, "override": override, "bypassed": list(decision.bypassed)}
    err = await _send(request, station, p.Extend(cmd=p.new_id(), session_id=sid, end=decision.end), "staff.extend", body_, sid)
    return err or web.json_response({"ok": True, "end": decision.end, "bypassed": list(decision.bypassed)})


async def end(request: web.Request) -> web.Response:
    station, body = _station(request), await _body(request)
    reason = _text(body, "reason", MAX_REASON, required=True)
    if isinstance(reason, web.Response):
        return reason
    live = request.app[keys.FLOOR].live[station]
    if live.session is None:
        return await _refused(request, station, "staff.end", {"reason": reason}, "no_session", f"{station} has no session")
    sid = live.session.session_id
    err = await _send(request, station, p.EndSession(cmd=p.new_id(), session_id=sid, reason="steward"), "staff.end", {"reason": reason}, sid)
    return err or web.json_response({"ok": True})


async def message(request: web.Request) -> web.Response:
    station, body = _station(request), await _body(request)
    text = _text(body, "text", MAX_MESSAGE, required=True)
    if isinstance(text, web.Response):
        return text
    # the audit keeps that a message was sent and its length, not the text (it may quote a visitor)
    err = await _send(request, station, p.Message(cmd=p.new_id(), text=text), "staff.message", {"chars": len(text)})
    return err or web.json_response({"ok": True})


async def _set_locked(request: web.Request, station: str, reason: str | None) -> None:
    floor = request.app[keys.FLOOR]
    await request.app[keys.STORE].write(lambda db: db.execute("UPDATE stations SET locked_reason = ? WHERE id = ?", [reason, station]))
    floor.live[station].locked = reason
    floor.changed(station)


async def lock(request: web.Request) -> web.Response:
    station, body = _station(request), await _body(request)
    reason = _text(body, "reason", MAX_REASON, required=True)
    if isinstance(reason, web.Response):
        return reason
    floor = request.app[keys.FLOOR]
    if station not in floor.conns:  # stored now; the station applies it when it reconnects (welcome.locked)
        await _set_locked(request, station, reason)
        await audit(request, "staff.lock", station, {"reason": reason, "outcome": "deferred"})
        return web.json_response({"ok": True, "deferred": True}, status=202)
    err = await _send(request, station, p.Lock(cmd=p.new_id(), reason=reason), "staff.lock", {"reason": reason})
    if err is not None:
        return err
    await _set_locked(request, station, reason)
    return web.json_response({"ok": True})


async def unlock(request: web.Request) -> web.Response:
    station, body = _station(request), await _body(request)
    reason = _text(body, "reason", MAX_REASON, required=False)
    if isinstance(reason, web.Response):
        return reason
    floor = request.app[keys.FLOOR]
    if station not in floor.conns:
        await _set_locked(request, station, None)
        await audit(request, "staff.unlock", station, {"reason": reason, "outcome": "deferred"})
        return web.json_response({"ok": True, "deferred": True}, status=202)
    err = await _send(request, station, p.Unlock(cmd=p.new_id()), "staff.unlock", {"reason": reason})
    if err is not None:
        return err
    await _set_locked(request, station, None)
    return web.json_response({"ok": True})


async def open_session(request: web.Request) -> web.Response:
    station = _station(request)
    app = request.app
    floor, settings = app[keys.FLOOR], app[keys.SETTINGS]
    live, now = floor.live[station], app[keys.CLOCK].now()
    if live.session is not None or live.locked is not None:
        return await _refused(request, station, "staff.open", {}, "busy", f"{station} is busy or out of order")
    closing = closing_after(settings, now)
    if closing is None:
        return await _refused(request, station, "staff.open", {}, "closed", "the space is closed")
    cut = grant_end(now, now + settings.session_minutes * 60, closing=closing,
                    next_booking=app[keys.SITE].next_booking(station, now), min_minutes=settings.min_session_minutes)  # fmt: skip
    if cut is None:
        return await _refused(request, station, "staff.open", {}, "no_time", "too little time before closing or the next booking")
    end_, cause = cut.end, cut.cause
    sid = p.new_id()
    grant = p.Grant(cmd=p.new_id(), session_id=sid, start=now, end=end_, cause=cause, origin="steward", label=cut.label[:200])
    err = await _send(request, station, grant, "staff.open", {"end": end_, "cause": cause}, sid)
    return err or web.json_response({"ok": True, "session_id": sid, "end": end_})


async def dismiss_escape(request: web.Request) -> web.Response:
    """The steward saw the station's lock-screen escapes: they leave the floor (the reports keep counting them)."""
    station = _station(request)
    n = request.app[keys.FLOOR].dismiss_escape(station)
    await audit(request, "staff.dismiss_escape", station, {"escapes": n, "outcome": "ok" if n else "none"})
    return web.json_response({"ok": True, "dismissed": n})


def setup(app: web.Application) -> None:
    r = app.router
    for name, handler in (("extend", extend), ("end", end), ("message", message), ("lock", lock),
                          ("unlock", unlock), ("open", open_session), ("dismiss-escape", dismiss_escape)):  # fmt: skip
        r.add_post(f"/api/stations/{{station}}/{name}", handler)
    # approve and revoke: controller.web.enrol_api
