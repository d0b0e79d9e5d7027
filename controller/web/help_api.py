"""Help requests for the stewards: the open list, "I'm on it", "done".

A request is recorded by the agent's ``help_requested`` event (``requested``).
Taking it stamps ``taken``/``taken_by`` (the time to answer is ``taken -
requested``), marks the floor's help flag with the steward's login so the
other stewards see who went, and tells the station "a steward is coming".
``done`` stamps ``done`` and clears the flag. The station is told when it is
online; the record is kept either way.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controller.web import keys
from controller.web.actions import audit
from controller.web.auth import current, json_error
from espace import protocol as p


def _open_requests(db: Any) -> list[dict[str, Any]]:
    return list(
        db.query(
            # the visitor's language (of the session they asked from): the steward knows it before going
            "SELECT h.id, h.station, h.session_id, h.kind, h.requested, h.taken, h.taken_by, s.lang "
            "FROM help_requests h LEFT JOIN sessions s ON s.id = h.session_id "
            "WHERE h.done IS NULL AND h.cancelled IS NULL ORDER BY h.requested ASC"
        )
    )


async def list_help(request: web.Request) -> web.Response:
    now = request.app[keys.CLOCK].now()
    rows = await request.app[keys.STORE].read(_open_requests)
    for r in rows:
        r["waiting_s"] = round(max(0.0, now - r["requested"]))
    return web.json_response({"now": now, "help": rows})


def _row(db: Any, help_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM help_requests WHERE id = ?", [help_id]))
    return rows[0] if rows else None


async def _notify(request: web.Request, station: str, help_id: str, state: str) -> bool:
    floor = request.app[keys.FLOOR]
    if station not in floor.conns:
        return False
    ack = await floor.command(station, p.HelpUpdate(cmd=p.new_id(), help_id=help_id, state=state))  # type: ignore[arg-type]
    return ack is not None and ack.ok


def _publish_help(request: web.Request, row: dict[str, Any], state: str) -> None:
    """Tell every dashboard the help list changed, whatever the request's kind (a printer alert has
    no station tile whose change would tell the other stewards it was taken or done)."""
    app = request.app
    app[keys.FLOOR].publish({"type": "help", "now": app[keys.CLOCK].now(), "help_id": row["id"], "state": state})


async def take(request: web.Request) -> web.Response:
    help_id = request.match_info["help_id"]
    who = current(request).login
    app = request.app
    now = app[keys.CLOCK].now()

    def write(db: Any) -> tuple[str, dict[str, Any] | None]:
        row = _row(db, help_id)
        if row is None:
            return "missing", None
        if row["done"] is not None or row["cancelled"] is not None:
            return "closed", row
        if row["taken_by"] is not None and row["taken_by"] != who:
            return "taken", row
        if row["taken_by"] is None:
            db.execute("UPDATE help_requests SET taken = ?, taken_by = ? WHERE id = ?", [now, who, help_id])
        return "ok", row

    outcome, row = await app[keys.STORE].write(write)
    if outcome == "missing" or row is None:
        return json_error(404, "no_help", "no such help request")
    if outcome == "closed":
        return json_error(409, "help_closed", "this request is already closed")
    if outcome == "taken":
        who_took = row["taken_by"]
        return json_error(409, "help_taken", f"{who_took} is already on it", taken_by=who_took, params={"taken_by": who_took})
    station = row["station"]
    floor = app[keys.FLOOR]
    live = floor.live.get(station)
    if live is not None and live.help is not None and live.help.id == help_id and live.help.taken_by is None:
        live.help.taken_by = who
        live.help.taken_at = now
        floor.changed(station)
    _publish_help(request, row, "taken")
    told = await _notify(request, station, help_id, "taken")
    answer_s = round(now - row["requested"])
    await audit(request, "staff.help_take", station, {"help_id": help_id, "answer_s": answer_s, "station_told": told}, row["session_id"])
    return web.json_response({"ok": True, "taken_by": who, "answer_s": answer_s, "station_told": told})


async def done(request: web.Request) -> web.Response:
    help_id = request.match_info["help_id"]
    who = current(request).login
    app = request.app
    now = app[keys.CLOCK].now()

    def write(db: Any) -> tuple[str, dict[str, Any] | None]:
        row = _row(db, help_id)
        if row is None:
            return "missing", None
        if row["done"] is not None or row["cancelled"] is not None:
            return "closed", row
        db.execute(
            "UPDATE help_requests SET done = ?, taken = COALESCE(taken, ?), taken_by = COALESCE(taken_by, ?) WHERE id = ?",
            [now, now, who, help_id],
        )
        return "ok", row

    outcome, row = await app[keys.STORE].write(write)
    if outcome == "missing" or row is None:
        return json_error(404, "no_help", "no such help request")
    if outcome == "closed":
        return json_error(409, "help_closed", "this request is already closed")
    station = row["station"]
    floor = app[keys.FLOOR]
    live = floor.live.get(station)
    if live is not None and live.help is not None and live.help.id == help_id:
        live.help = None
        floor.changed(station)
    _publish_help(request, row, "done")
    told = await _notify(request, station, help_id, "done")
    await audit(request, "staff.help_done", station, {"help_id": help_id, "station_told": told}, row["session_id"])
    return web.json_response({"ok": True, "station_told": told})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/help", list_help)
    app.router.add_post("/api/help/{help_id}/take", take)
    app.router.add_post("/api/help/{help_id}/done", done)

