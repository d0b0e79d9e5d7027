"""The desk's JSON API, in process over real HTTP, validated against controller/openapi.json."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace.clock import ManualClock, parse_instant
from tests.support.served import serve

SPEC = json.loads(
    (Path(__file__).resolve().parents[2] / "controller" / "openapi.json").read_text("utf-8")
)
PASSWORD = "correct-horse-battery"


def at(hhmm: str) -> float:
    return parse_instant(f"2026-11-19T{hhmm}")


def check(path: str, method: str, status: int, body: Any) -> None:
    """Validate ``body`` against the OpenAPI response schema of (path, method, status)."""
    response = SPEC["paths"][path][method]["responses"][str(status)]
    schema = {**response["content"]["application/json"]["schema"], "components": SPEC["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


class Client:
    def __init__(self, app: web.Application, http: aiohttp.ClientSession, base: str) -> None:
        self.app, self.http, self.base = app, http, base
        self.headers: dict[str, str] = {}

    async def login(self, login: str, role: str) -> None:
        """Log in through the staff API when staff login is wired into the app."""
        try:
            from controller import staff
            from controller.web.auth import AUTH
        except ImportError:
            return
        if AUTH not in self.app:
            return
        now = self.app[keys.CLOCK].now()
        await self.app[keys.STORE].write(
            lambda db: staff.add_staff(db, login, PASSWORD, role, "fr", now)
        )
        async with self.http.post(
            self.base + "/login", json={"login": login, "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
            self.headers = {"X-CSRF-Token": (await r.json())["me"]["csrf"]}

    async def call(
        self, method: str, path: str, template: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, headers=self.headers, **kw) as r:
            body = await r.json()
            check(template or path, method.lower(), r.status, body)
            return r.status, body


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Client]:
    clock = ManualClock(at("10:00"))
    served = await serve(create_app(make_settings(database=str(tmp_path / "db")), clock))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        client = Client(served.app, http, served.url)
        await client.login("desk1", "steward")
        yield client
    await served.close()


def busy_floor(app: web.Application) -> None:
    """Every station in session (connected), so tickets wait."""
    from espace import protocol as p

    floor = app[keys.FLOOR]
    now = app[keys.CLOCK].now()
    for sid, live in floor.live.items():
        live.connected = True
        live.session = p.SessionInfo(session_id=p.new_id(), start=now, end=now + 3600)
        floor.changed(sid)


async def test_bookings_are_created_listed_and_cancelled(desk: Client):
    status, named = await desk.call("POST", "/api/bookings", json={
        "label": "Atelier CV", "start": "2026-11-19T14:00", "end": "2026-11-19T16:00", "stations": ["PC-02", "PC-01"],
    })  # fmt: skip
    assert status == 201
    assert named["stations"] == ["PC-01", "PC-02"]
    assert named["start"] == at("14:00")
    status, counted = await desk.call("POST", "/api/bookings", json={
        "label": "Visite scolaire", "start": at("15:00"), "end": at("17:00"), "kind": "tablet", "count": 10,
        "recurrence": "weekly:thu",
    })  # fmt: skip
    assert status == 201
    status, listed = await desk.call("GET", "/api/bookings")
    assert status == 200
    assert [b["id"] for b in listed["bookings"]] == [named["id"], counted["id"]]
    today = [o for o in listed["occurrences"] if o["start"] < at("23:59")]
    assert [o["label"] for o in today] == ["Atelier CV", "Visite scolaire"]
    assert today[1]["stations"] == []  # assigned only lead + session length before it starts

    status, clash = await desk.call("POST", "/api/bookings", json={
        "label": "x", "start": at("15:00"), "end": at("15:30"), "stations": ["PC-02"]})  # fmt: skip
    assert status == 409
    assert "already booked" in clash["message"]
    status, bad = await desk.call(
        "POST",
        "/api/bookings",
        json={"label": "x", "start": "soon", "end": at("15:30"), "stations": ["PC-03"]},
    )
    assert status == 400
    assert bad["error"] == "bad_booking"
    status, bad = await desk.call(
        "POST",
        "/api/bookings",
        json={"start": at("15:00"), "end": at("14:00"), "stations": ["PC-03"]},
    )
    assert status == 400

    status, gone = await desk.call("DELETE", f"/api/bookings/{named['id']}", "/api/bookings/{id}")
    assert (status, gone) == (200, {"ok": True, "id": named["id"]})
    status, _ = await desk.call("DELETE", f"/api/bookings/{named['id']}", "/api/bookings/{id}")
    assert status == 404
    status, listed = await desk.call("GET", "/api/bookings")
    assert [b["id"] for b in listed["bookings"]] == [counted["id"]]


async def test_the_desk_issues_tickets_and_the_public_page_shows_the_calls(desk: Client):
    busy_floor(desk.app)
    status, first = await desk.call("POST", "/api/queue/tickets", json={})
    assert status == 201
    assert (first["position"], first["station"], first["accessible"]) == (1, None, False)
    status, second = await desk.call("POST", "/api/queue/tickets", json={"accessible": True})
    assert (status, second["position"]) == (201, 1)  # first of its need
    status, third = await desk.call("POST", "/api/queue/tickets")
    assert third["position"] == 2

    status, queue = await desk.call("GET", "/api/queue")
    assert [t["code"] for t in queue["waiting"]] == [first["code"], second["code"], third["code"]]
    assert queue["called"] == []
    # the stewards' extend button sees the site's queue (one rule: espace.grant.decide_extension)
    status, refused = await desk.call("POST", "/api/stations/PC-01/extend", "/api/stations/{station}/extend", json={})
    assert (status, refused["error"]) == (409, "extension_queue")

    floor = desk.app[keys.FLOOR]
    floor.live["PC-07"].session = None  # a visitor leaves PC-07
    floor.changed("PC-07")
    site = desk.app[keys.SITE]
    await site.sweep()
    status, queue = await desk.call("GET", "/api/queue")
    assert queue["held"] == {"PC-07": first["code"]}
    assert [t["code"] for t in queue["waiting"]] == [second["code"], third["code"]]
    status, public = await desk.call("GET", "/api/public/now-serving")
    assert public["serving"] == [{"code": first["code"], "station": "PC-07"}]
    assert public["waiting"] == 2
    assert public["closing"] == at("19:00")

    status, cancelled = await desk.call(
        "POST",
        f"/api/queue/tickets/{first['code'].lower()}/cancel",
        "/api/queue/tickets/{code}/cancel",
    )
    assert (status, cancelled["station"]) == (200, "PC-07")
    status, queue = await desk.call("GET", "/api/queue")
    assert queue["held"] == {"PC-07": third["code"]}  # offered again, to the next ordinary ticket
    status, _ = await desk.call(
        "POST", "/api/queue/tickets/ZZZ9/cancel", "/api/queue/tickets/{code}/cancel"
    )
    assert status == 404
    status, bad = await desk.call("POST", "/api/queue/tickets", json={"accessible": "yes"})
    assert status == 400


async def test_no_ticket_when_closed_and_the_health_and_floor_match_the_spec(desk: Client):
    status, _ = await desk.call("GET", "/healthz")
    assert status == 200
    status, floor = await desk.call("GET", "/api/floor")
    assert len(floor["stations"]) == 61
    desk.app[keys.CLOCK].set(at("19:30"))  # type: ignore[attr-defined]
    status, closed = await desk.call("POST", "/api/queue/tickets")
    assert (status, closed["error"]) == (409, "closed")
    status, public = await desk.call("GET", "/api/public/now-serving")
    assert public["open"] is False


async def test_the_pages_and_their_strings_are_served(desk: Client):
    for path in ("/now-serving", "/desk"):
        async with desk.http.get(desk.base + path) as r:
            assert r.status == 200
            assert "<html" in (await r.text()).lower()
    for lang, title in (("fr", "Nous appelons"), ("nl", "Aan de beurt"), ("en", "Now serving")):
        async with desk.http.get(f"{desk.base}/now-serving/i18n/{lang}.json") as r:
            assert (await r.json())["queue.now_serving.title"] == title


async def test_roles_backoffice_may_read_but_not_issue(tmp_path: Path):
    pytest.importorskip("controller.web.auth")
    from controller.web.auth import AUTH

    clock = ManualClock(at("10:00"))
    app = create_app(make_settings(database=str(tmp_path / "db")), clock)
    if AUTH not in app:
        pytest.skip("staff login is not wired into the app yet")
    served = await serve(app)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            anonymous = Client(app, http, served.url)
            status, _ = await anonymous.call("GET", "/api/queue")
            assert status == 401
            status, _ = await anonymous.call("GET", "/api/public/now-serving")
            assert status == 200
            await anonymous.login("back", "backoffice")
            status, _ = await anonymous.call("GET", "/api/queue")
            assert status == 200
            status, denied = await anonymous.call("POST", "/api/queue/tickets")
            assert (status, denied["error"]) == (403, "forbidden")
            status, _ = await anonymous.call(
                "POST",
                "/api/bookings",
                json={"start": at("14:00"), "end": at("15:00"), "stations": ["PC-01"]},
            )
            assert status == 403
    finally:
        await served.close()


async def test_a_booking_outside_1970_to_2100_is_refused_and_not_stored(desk: Client):
    """1e300 used to be stored (201), 10**400 answered 500 (too large for a float)."""
    ok = {"start": at("14:00"), "end": at("15:00"), "stations": ["PC-03"]}
    for bad in (
        {"end": 1e300}, {"start": -1.0}, {"start": 10**400}, {"start": "0001-01-01T09:00"},
        {"end": "9999-12-31T23:00"}, {"until": 4_102_444_801, "recurrence": "daily"},
    ):  # fmt: skip
        status, body = await desk.call("POST", "/api/bookings", json={**ok, **bad})
        assert (status, body["error"]) == (400, "bad_booking"), bad
    raw, json_type = '{"start": 1e999, "end": 2e999, "stations": ["PC-03"]}', {"Content-Type": "application/json"}
    async with desk.http.post(desk.base + "/api/bookings", data=raw, headers={**desk.headers, **json_type}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "bad_json")  # infinity is no JSON number
    rows = await desk.app[keys.STORE].read(lambda db: db.execute("SELECT COUNT(*) FROM bookings").fetchone())
    assert rows[0] == 0
    status, _ = await desk.call("POST", "/api/bookings", json=ok)
    assert status == 201


async def test_a_booking_of_an_unknown_kind_is_refused(desk: Client):
    """kind "AAA" with named stations used to be stored (201), found by the OpenAPI fuzz."""
    status, body = await desk.call("POST", "/api/bookings", json={
        "start": at("14:00"), "end": at("15:00"), "stations": ["PC-03"], "kind": "AAA"})  # fmt: skip
    assert (status, body["error"]) == (400, "bad_booking")
    status, _ = await desk.call("POST", "/api/bookings", json={
        "start": at("14:00"), "end": at("15:00"), "stations": ["PC-03"], "kind": "pc"})  # fmt: skip
    assert status == 201


async def test_a_refused_booking_says_which_rule_and_its_details(desk: Client):
    """The desk page says the refusal in the steward's language from ``reason`` and ``params``."""
    status, first = await desk.call("POST", "/api/bookings", json={
        "label": "Atelier CV", "start": "2026-11-19T14:00", "end": "2026-11-19T16:00", "stations": ["PC-01", "PC-02"],
    })  # fmt: skip
    assert status == 201
    status, clash = await desk.call("POST", "/api/bookings", json={
        "label": "Visite", "start": at("15:00"), "end": at("17:00"), "stations": ["PC-03", "PC-02", "PC-01"],
    })  # fmt: skip
    assert status == 409
    assert (clash["error"], clash["reason"]) == ("booking_conflict", "station_booked")
    assert clash["params"] == {"stations": "PC-01, PC-02", "label": "Atelier CV", "booking_id": first["id"]}
    assert "already booked" in clash["message"]  # the English text stays for API clients

    status, tablets = await desk.call("POST", "/api/bookings", json={
        "start": at("15:00"), "end": at("17:00"), "kind": "tablet", "count": 99})  # fmt: skip
    assert (status, tablets["reason"], tablets["params"]) == (409, "too_few_stations", {"available": 16, "asked": 99})

    for body, reason, params in (
        ({"recurrence": "weekly:tuesday"}, "bad_recurrence", {"recurrence": "weekly:tuesday"}),
        ({"end": at("13:00")}, "ends_before_start", None),
        ({"start": "soon"}, "bad_instant", {"field": "start", "value": "soon"}),
        ({"label": "x" * 121}, "bad_label", {"max": 120}),
    ):
        status, bad = await desk.call("POST", "/api/bookings", json={
            "start": at("18:00"), "end": at("18:30"), "stations": ["PC-04"], **body})  # fmt: skip
        assert (status, bad["error"], bad["reason"], bad.get("params")) == (400, "bad_booking", reason, params)

    status, gone = await desk.call("DELETE", "/api/bookings/nope", "/api/bookings/{id}")
    assert (status, gone["error"], gone["params"]) == (404, "no_such_booking", {"id": "nope"})
    status, strings = await desk.call("GET", "/now-serving/i18n/nl.json", "/now-serving/i18n/{lang}.json")
    assert "PC-01" in strings["err.booking_conflict.station_booked"].format(**clash["params"])


async def test_a_ticket_waits_for_the_kind_of_station_the_desk_chose(desk: Client):
    """The PCs are full, the tablets free: a PC ticket waits (main sent it to a tablet), and
    an accessible PC ticket gets PC-45, not TAB-16 (the accessible tablet)."""
    busy_floor(desk.app)
    floor, site = desk.app[keys.FLOOR], desk.app[keys.SITE]
    status, queue = await desk.call("GET", "/api/queue")
    assert queue["kinds"] == ["pc", "tablet"]
    for sid, live in floor.live.items():  # the tablets are free: PCs are what is full
        if sid.startswith("TAB-"):
            live.session = None
            floor.changed(sid)
    status, pc = await desk.call("POST", "/api/queue/tickets", json={"kind": "pc"})
    assert (status, pc["station"], pc["kind"]) == (201, None, "pc")
    status, needs = await desk.call("POST", "/api/queue/tickets", json={"kind": "pc", "accessible": True})
    assert (status, needs["station"], needs["position"]) == (201, None, 1)
    status, tab = await desk.call("POST", "/api/queue/tickets", json={"kind": "tablet", "accessible": True})
    assert (status, tab["station"]) == (201, "TAB-16")  # the accessible tablet, for the one who needs it
    status, anyone = await desk.call("POST", "/api/queue/tickets", json={})
    assert anyone["station"] is not None
    assert anyone["station"].startswith("TAB-")

    floor.live["PC-45"].session = None  # the accessible PC frees
    floor.changed("PC-45")
    await site.sweep()
    status, queue = await desk.call("GET", "/api/queue")
    assert queue["held"]["PC-45"] == needs["code"]  # though the ordinary PC ticket is older
    assert [(t["code"], t["kind"]) for t in queue["waiting"]] == [(pc["code"], "pc")]
    floor.live["PC-03"].session = None
    floor.changed("PC-03")
    await site.sweep()
    status, queue = await desk.call("GET", "/api/queue")
    assert queue["held"]["PC-03"] == pc["code"]

    status, bad = await desk.call("POST", "/api/queue/tickets", json={"kind": "laptop"})
    assert (status, bad["error"], bad["params"]) == (400, "bad_kind", {"kinds": "pc, tablet"})


async def test_a_ticket_kept_over_a_restart_keeps_its_kind(tmp_path: Path):
    clock = ManualClock(at("10:00"))
    settings = make_settings(database=str(tmp_path / "db"))
    served = await serve(create_app(settings, clock))
    try:
        busy_floor(served.app)
        ticket = served.app[keys.SITE].issue_ticket(accessible=False, kind="tablet")
        await served.app[keys.SITE].flush()
    finally:
        await served.close()
    served = await serve(create_app(settings, clock))
    try:
        [kept] = served.app[keys.SITE].queue.tickets()
        assert (kept.code, kept.kind) == (ticket.code, "tablet")
    finally:
        await served.close()
