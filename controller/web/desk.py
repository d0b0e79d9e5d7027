"""Bookings, the queue and the public "now serving" page: the desk's routes.

JSON API (described in ``controller/openapi.json``)::

    GET    /api/bookings                   bookings, today's occurrences with their stations, and
                                           the next eight weeks' bookings once each ("upcoming")
    POST   /api/bookings                   create one (named stations, or count of a kind/zone)
    DELETE /api/bookings/{id}              cancel one
    POST   /api/queue/tickets              the desk issues a ticket ({"accessible": true, "kind": "pc"} optional;
                                           no kind: a station of any kind)
    GET    /api/queue                      waiting tickets, calls, held stations
    POST   /api/queue/tickets/{code}/cancel
    GET    /api/public/now-serving         public: codes called and their station

Pages: ``/desk`` (staff) and ``/now-serving`` (public, for the screens of the
space), with their strings from the catalog at ``/now-serving/i18n/{lang}.json``.

Errors answer ``{"error": code, "message": English text}``, and where the text
has details ``"params"`` (``{"code": "ABC4"}``); a refused booking also says
which rule refused it as ``"reason"`` (:class:`~controller.rules.BookingError`'s
code: ``{"error": "booking_conflict", "reason": "station_booked", "params":
{"stations": "PC-01", "label": "Atelier CV", ...}}``). The desk page shows the
catalog's ``err.<error>.<reason>`` (or ``err.<error>``) with the params filled in.

Roles: the staff middleware (``controller/web/auth.py``) guards every route
but ``/api/public/*`` and ``/now-serving*``; reading needs ``floor.view``
(steward, backoffice, admin); every write here (bookings, tickets) needs
``floor.act`` (steward or admin), checked by :func:`_may_act`, and the
session's CSRF token (the middleware checks it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from controller import sessions, staff
from controller.rules import Booking, BookingError, normalise_code, occurrences, station_sort_key
from controller.rules.bookings import check_label, check_station_load
from controller.rules.queue import QueueFull
from controller.site import Site, booking_dict
from controller.web import keys
from controller.web.auth import SESSION_KEY
from controller.web.body import BadBody, read_json
from controller.web.errors import json_error
from espace import protocol as p
from espace.clock import parse_instant
from espace.i18n import LANGS, catalog

log = logging.getLogger(__name__)

SITE = keys.SITE  # declared in keys.py; this name is kept for the modules that import it from here
STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
MAX_LABEL = 120
UPCOMING_DAYS = 56  # the desk lists the bookings of the next eight weeks
KINDS = p.KINDS
# A booking's instants are bounded like the wire's (espace.protocol.Instant): the rules
# pushed to the stations carry them. 1e300 used to be stored, NaN to fail the insert (500).
EARLIEST, LATEST = 0.0, 4_102_444_800.0  # 1970-01-01, 2100-01-01 UTC


def _booking_refused(status: int, error: str, exc: ValueError) -> web.Response:
    """A refused booking: the rule's code and params when it says them (a BookingError)."""
    if isinstance(exc, BookingError):
        return json_error(status, error, str(exc), reason=exc.code, params=exc.params or None)
    return json_error(status, error, str(exc))


def _actor(request: web.Request) -> str | None:
    session = request.get(SESSION_KEY)
    return getattr(session, "login", None)


def _may_act(request: web.Request) -> web.Response | None:
    """403 unless the staff session (if the login middleware set one) may act (steward or above)."""
    session = request.get(SESSION_KEY)
    if session is not None and not staff.allowed(session.role, "floor.act"):
        return json_error(
            403, "forbidden", f"your role ({session.role}) may not do this (floor.act)",
            params={"role": session.role, "capability": "floor.act"},
        )  # fmt: skip
    return None


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    if not request.can_read_body:
        return {}
    try:
        body = await read_json(request)
    except BadBody:
        return json_error(400, "bad_json", "the body must be JSON")
    if not isinstance(body, dict):
        return json_error(400, "bad_json", "the body must be a JSON object")
    return body


# ---------------------------------------------------------------- bookings


def _instant(value: Any, name: str, site: Site) -> float:
    """Epoch seconds or a local ISO time, between 1970 and 2100 (as the wire's instants)."""
    if isinstance(value, bool) or value is None:
        raise BookingError(
            "no_instant", f"{name}: give an instant (epoch seconds or 2026-11-19T14:00)", field=name
        )
    instant: float | None = None
    try:
        if isinstance(value, int | float):
            instant = float(value)
        elif isinstance(value, str):
            instant = parse_instant(value, site.hours.tz)
    except (ValueError, OverflowError):  # not ISO, or an int too large for a float
        pass
    if instant is None:
        raise BookingError(
            "bad_instant",
            f"{name}: {value!r} is not an instant (epoch seconds or 2026-11-19T14:00)",
            field=name, value=str(value)[:40],
        )  # fmt: skip
    if not EARLIEST <= instant <= LATEST:  # also NaN
        raise BookingError(
            "instant_out_of_range", f"{name}: {value!r} is not between 1970 and 2100", field=name
        )
    return instant


def _booking_from(body: dict[str, Any], site: Site) -> Booking:
    label = body.get("label", "")
    if not isinstance(label, str) or len(label.strip()) > MAX_LABEL:
        raise BookingError(
            "bad_label", f"label: text of at most {MAX_LABEL} characters", max=MAX_LABEL
        )
    check_label(label)
    stations = body.get("stations", [])
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise BookingError("bad_stations", "stations: a list of station ids")
    count = body.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int):
        raise BookingError("bad_count", "count: a whole number")
    for name in ("kind", "zone", "recurrence"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BookingError("bad_text", f"{name}: text", field=name)
    if body.get("kind") not in (*KINDS, None):  # "AAA" used to be stored with named stations
        kinds = ", ".join(KINDS)
        raise BookingError("bad_kind", f"kind: one of {kinds}", kinds=kinds)
    until = body.get("until")
    return Booking(
        id=p.new_id()[:16], label=label.strip(),
        start=_instant(body.get("start"), "start", site), end=_instant(body.get("end"), "end", site),
        stations=tuple(sorted(set(stations), key=station_sort_key)), kind=body.get("kind"), zone=body.get("zone"),
        count=count, recurrence=body.get("recurrence"), until=None if until is None else _instant(until, "until", site),
    )  # fmt: skip


def _occurrence_dict(site: Site, occ: Any) -> dict[str, Any]:
    return {
        "booking_id": occ.booking_id, "key": occ.key, "label": occ.label, "start": occ.start, "end": occ.end,
        "stations": list(occ.stations), "kind": occ.kind, "zone": occ.zone, "count": occ.count,
        "released": sorted((s for k, s in site.released if k == occ.key), key=station_sort_key),
        "claimed": sorted(site.claimed.get(occ.key, ()), key=station_sort_key),
    }  # fmt: skip


def _upcoming(site: Site, now: float) -> list[dict[str, Any]]:
    """Every booking with a sitting in the next ``UPCOMING_DAYS``, once (a recurring one with its
    rule), by its next sitting: what the desk must see before it books again."""
    out = []
    for b in site.bookings.values():
        nxt = occurrences([b], now, now + UPCOMING_DAYS * 86400, site.hours.tz)
        if nxt:
            out.append({**booking_dict(b), "next_start": nxt[0].start, "next_end": nxt[0].end, "sittings": len(nxt)})
    return sorted(out, key=lambda d: (d["next_start"], d["id"]))


async def bookings_list(request: web.Request) -> web.Response:
    site = request.app[SITE]
    now = site.clock.now()
    items = sorted(site.bookings.values(), key=lambda b: (b.start, b.id))
    return web.json_response({
        "now": now,
        "bookings": [booking_dict(b) for b in items],
        "occurrences": [_occurrence_dict(site, o) for o in site.occurrences(now)],
        "upcoming": _upcoming(site, now),
        "upcoming_days": UPCOMING_DAYS,
    })  # fmt: skip


async def bookings_create(request: web.Request) -> web.Response:
    if (denied := _may_act(request)) is not None:
        return denied
    site = request.app[SITE]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        booking = _booking_from(body, site)
    except ValueError as exc:
        return _booking_refused(400, "bad_booking", exc)
    try:
        _check_fits(site, booking, site.clock.now())
        await site.add_booking(booking, _actor(request))
    except ValueError as exc:
        return _booking_refused(409, "booking_conflict", exc)
    return web.json_response(booking_dict(booking), status=201)


def _check_fits(site: Site, booking: Booking, now: float) -> None:
    """Refuse what would make a station's rules too long: too many bookings on a station in one day
    (``too_many_bookings``), or rules over the agents' frame limit (``rules_too_large``), found here,
    at the desk, rather than by an agent refusing its welcome."""

    def stations_of(o: Any) -> Any:
        if o.stations:
            return o.stations
        return site.assigned.get(o.key) or [
            s.id for s in site.catalog if (o.kind is None or s.kind == o.kind) and (o.zone is None or s.zone == o.zone)
        ]

    tz = site.hours.tz
    since, horizon = max(booking.start, now), max(booking.end, now) + 62 * 86400
    check_station_load(  # the others from a day earlier: those of the same day that are over count too
        occurrences([booking], since, horizon, tz), occurrences(site.bookings.values(), since - 86400, horizon, tz), stations_of, tz
    )
    site.bookings[booking.id] = booking  # as if made: the rules each station would get (no await in between)
    site._changed_bookings()
    try:
        for station in booking.stations:
            size = sessions.rules_bytes(sessions.build_rules(site, station, now, fit=False))
            if size > sessions.RULES_BUDGET:
                raise BookingError(
                    "rules_too_large", f"{station}'s rules would be {size} bytes, over the agents' limit",
                    station=station, bytes=size, max=sessions.RULES_BUDGET,
                )  # fmt: skip
    finally:
        del site.bookings[booking.id]
        site._changed_bookings()


async def bookings_delete(request: web.Request) -> web.Response:
    if (denied := _may_act(request)) is not None:
        return denied
    booking_id = request.match_info["id"]
    if not await request.app[SITE].cancel_booking(booking_id):
        return json_error(404, "no_such_booking", f"no booking {booking_id}", params={"id": booking_id})
    return web.json_response({"ok": True, "id": booking_id})


# ---------------------------------------------------------------- the queue


def _ticket_dict(site: Site, t: Any, positions: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "code": t.code,
        "issued": t.issued,
        "accessible": t.accessible,
        "kind": t.kind,
        "position": (site.queue.positions() if positions is None else positions).get(t.code),
    }


async def ticket_issue(request: web.Request) -> web.Response:
    if (denied := _may_act(request)) is not None:
        return denied
    site = request.app[SITE]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    accessible = body.get("accessible", False)
    if not isinstance(accessible, bool):
        return json_error(400, "bad_accessible", "accessible must be true or false")
    kind = body.get("kind")
    if kind is not None and kind not in site.kinds():
        return json_error(
            400, "bad_kind", f"kind must be one of {', '.join(site.kinds())}, or absent for any station",
            params={"kinds": ", ".join(site.kinds())},
        )  # fmt: skip
    now = site.clock.now()
    if not site.hours.is_open(now):
        return json_error(409, "closed", "the space is closed; tickets are given during opening hours")
    try:
        ticket = site.issue_ticket(accessible, kind)
    except QueueFull as exc:
        return json_error(409, "queue_full", str(exc), params={"max": site.queue.max_live})
    await site.flush()
    out = _ticket_dict(site, ticket)
    call = next((c for c in site.queue.held_stations().values() if c.code == ticket.code), None)
    out["station"] = None if call is None else call.station
    return web.json_response(out, status=201)


async def queue_view(request: web.Request) -> web.Response:
    site = request.app[SITE]
    calls = sorted(site.queue.held_stations().values(), key=lambda c: c.called)
    positions = site.queue.positions()  # one pass for every ticket (was one per ticket: O(n²))
    return web.json_response({
        "now": site.clock.now(),
        "open": site.hours.is_open(site.clock.now()),
        "kinds": site.kinds(),
        "waiting": [_ticket_dict(site, t, positions) for t in site.queue.waiting()],
        "called": [c.as_dict() for c in calls],
        "held": {c.station: c.code for c in calls},
    })  # fmt: skip


async def ticket_cancel(request: web.Request) -> web.Response:
    if (denied := _may_act(request)) is not None:
        return denied
    site = request.app[SITE]
    code = normalise_code(request.match_info["code"])
    ticket = site.cancel_ticket(code)
    if ticket is None:
        return json_error(404, "no_such_ticket", f"no live ticket {code}", params={"code": code})
    await site.flush()
    return web.json_response({"ok": True, "code": ticket.code, "station": ticket.station})


async def now_serving(request: web.Request) -> web.Response:
    site = request.app[SITE]
    now = site.clock.now()
    return web.json_response({
        "now": now,
        "open": site.hours.is_open(now),
        "closing": site.hours.closing_after(now),
        "serving": [{"code": code, "station": station} for code, station in site.queue.now_serving()],
        "waiting": len(site.queue.waiting()),
    })  # fmt: skip


# ---------------------------------------------------------------- pages


async def desk_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "desk.html")


async def now_serving_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "now-serving.html")


async def page_strings(request: web.Request) -> web.Response:
    """The ``desk.``, ``queue.`` and ``err.`` strings of one language, for the two pages."""
    lang = request.match_info["lang"]
    if lang not in LANGS:
        return json_error(404, "no_such_lang", "fr, nl or en")
    strings = {k: v for k, v in catalog(lang).items() if k.startswith(("desk.", "queue.", "err."))}
    return web.json_response(strings, headers={"Cache-Control": "max-age=300"})


# ---------------------------------------------------------------- wiring


def setup(app: web.Application) -> None:
    """Add the desk routes to ``app`` (called once by ``create_app``, which builds the site)."""
    app.router.add_get("/api/bookings", bookings_list)
    app.router.add_post("/api/bookings", bookings_create)
    app.router.add_delete("/api/bookings/{id}", bookings_delete)
    app.router.add_post("/api/queue/tickets", ticket_issue)
    app.router.add_get("/api/queue", queue_view)
    app.router.add_post("/api/queue/tickets/{code}/cancel", ticket_cancel)
    app.router.add_get("/api/public/now-serving", now_serving)
    app.router.add_get("/desk", desk_page)
    app.router.add_get("/now-serving", now_serving_page)
    app.router.add_get("/now-serving/i18n/{lang}.json", page_strings)
