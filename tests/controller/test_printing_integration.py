"""Printing against a real, private CUPS scheduler (tests/support/cups.py), with the controller
app in-process on loopback.

- The printer status comes from that cupsd over IPP (pyipp): ``ok``, then a queue stopped with
  ``cupsdisable -r "paper jam"`` reads ``jam``, raises one steward alert (a ``help_requests``
  row of kind ``printer`` and a published ``alert``) and shows in ``GET /api/printers``.
- A job printed (``lp``) while a simulated session runs on a station is counted once on that
  session: the station's agent reported it too (same printer, even the same job id, as a
  station's own CUPS would), but a print server's queue is counted from the server's
  ``page_log`` only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controller import staff
from controller.app import create_app
from controller.printers import PrinterConfig
from controller.settings import PrinterSpec, Settings, make_settings
from controller.store.apply import apply_event, print_job_key
from controller.web import keys
from controller.web.printing import (
    PRINTING,
    SERVER_LOG_SECONDS,
    ipp_config,
    printer_id_for_queue,
    server_queue_names,
)
from espace import protocol as p
from espace.clock import ManualClock
from tests.support.cups import CupsInstance, cups_missing_reason, tiny_pdf
from tests.support.procs import wait_for
from tests.support.served import Served, serve

needs_cups = pytest.mark.skipif(
    cups_missing_reason() is not None, reason=str(cups_missing_reason())
)

PASSWORD = "correct horse battery"


SitePrinterSpec = PrinterSpec


def site_settings(base: Settings, **extra: Any) -> Settings:
    return base.with_(**extra)


class Running:
    def __init__(self, app: web.Application, url: str, clock: ManualClock) -> None:
        self.app, self.url, self.clock = app, url, clock
        self.feed = app[keys.FLOOR].subscribe()
        self.seen: list[dict[str, Any]] = []
        self.served: Served | None = None

    async def close(self) -> None:
        if self.served is not None:
            await self.served.close()
            self.served = None

    def messages(self, kind: str) -> list[dict[str, Any]]:
        while not self.feed.empty():
            self.seen.append(self.feed.get_nowait())
        return [m for m in self.seen if m.get("type") == kind]

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self.app[keys.STORE].read(lambda db: list(db.query(sql, list(args))))

    async def apply(self, station: str, ev: p.Event) -> str:
        now = self.clock.now()
        return await self.app[keys.STORE].write(lambda db: apply_event(db, station, ev, now))

    async def login(self, http: aiohttp.ClientSession, role: str = "steward") -> None:
        now = self.clock.now()
        await self.app[keys.STORE].write(
            lambda db: staff.add_staff(db, "sam", PASSWORD, role, "fr", now)
        )
        async with http.post("/login", json={"login": "sam", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()


async def start(settings: Settings, clock: ManualClock) -> tuple[Running, Served]:
    app = create_app(settings, clock)
    running = Running(app, "", clock)
    served = await serve(app)
    running.url, running.served = served.url, served
    return running, served


@pytest.fixture
async def status_site(tmp_path: Path, cups: CupsInstance) -> AsyncIterator[Running]:
    clock = ManualClock(time.time())
    uri = f"ipp://127.0.0.1:{cups.port}/printers/{cups.printer}"
    settings = make_settings(
        database=str(tmp_path / "db.sqlite"), printers=[{"id": "PRN-1", "uri": uri, "x": 4, "y": 7}]
    )
    running, served = await start(settings, clock)
    yield running
    await served.close()


@needs_cups
async def test_the_printer_status_is_read_from_a_real_cups_and_a_jam_alerts_the_stewards(
    status_site: Running, cups: CupsInstance
) -> None:
    site = status_site
    printing = site.app[PRINTING]

    first = await wait_for(lambda: printing.statuses.get("PRN-1"), what="a first status")
    assert first.state == "ok", first
    assert first.printer_state in ("idle", "processing")
    stored = await site.rows("SELECT state, uri FROM printers WHERE id = 'PRN-1'")
    assert stored[0]["state"] == "ok"
    assert stored[0]["uri"].endswith("/printers/VirtualPDF")
    assert [m["printer"]["state"] for m in site.messages("printer")] == ["ok"]

    await asyncio.to_thread(cups.disable, "paper jam")
    await site.clock.advance(30)  # the next poll, on the injected clock
    jam = await wait_for(
        lambda: printing.statuses["PRN-1"].state == "jam" and printing.statuses["PRN-1"],
        what="the jam",
    )
    assert jam.printer_state == "stopped"
    assert "paper jam" in jam.message

    alerts = await wait_for(lambda: site.messages("alert"), what="a published alert")
    assert len(alerts) == 1
    assert alerts[0]["alert"]["printer"] == "PRN-1"
    assert alerts[0]["alert"]["state"] == "jam"
    helps = await site.rows("SELECT id, station, kind, session_id, done FROM help_requests")
    assert len(helps) == 1
    assert helps[0]["station"] == "PRN-1"
    assert helps[0]["kind"] == "printer"
    assert helps[0]["session_id"] is None
    assert helps[0]["id"] == alerts[0]["alert"]["id"]
    published = site.messages("printer")[-1]["printer"]
    assert (published["id"], published["state"], published["x"], published["y"]) == (
        "PRN-1",
        "jam",
        4,
        7,
    )

    # still jammed at the next poll: no second alert
    await site.clock.advance(30)
    await asyncio.sleep(0.5)
    assert len(await site.rows("SELECT id FROM help_requests")) == 1

    async with aiohttp.ClientSession(site.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get("/api/printers") as r:
            assert r.status == 401
        await site.login(http)
        async with http.get("/api/printers") as r:
            assert r.status == 200
            body = await r.json()
        (printer,) = body["printers"]
        assert printer["id"] == "PRN-1"
        assert printer["state"] == "jam"
        assert "paper jam" in printer["message"]
        async with http.get("/api/help") as r:  # the stewards' list, like a visitor's request
            listed = (await r.json())["help"]
        assert [(h["station"], h["kind"]) for h in listed] == [("PRN-1", "printer")]
        async with http.get("/api/me") as r:
            csrf = (await r.json())["csrf"]
        async with http.post(f"/api/help/{listed[0]['id']}/take", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
        # a printer alert has no station tile: the other stewards' lists hear of it on the feed
        taken = await wait_for(lambda: site.messages("help"), what="the take published")
        assert (taken[-1]["help_id"], taken[-1]["state"]) == (listed[0]["id"], "taken")

        # the steward clears the jam: the printer works again and its alert closes by itself
        await asyncio.to_thread(cups.enable)
        await site.clock.advance(30)
        await wait_for(lambda: printing.statuses["PRN-1"].state == "ok", what="back to ok")
        closed = await wait_for(lambda: [m for m in site.messages("help") if m["state"] == "done"], what="the alert closed")
        assert closed[0]["help_id"] == listed[0]["id"]
        (row,) = await site.rows("SELECT taken_by, done FROM help_requests")
        assert row["taken_by"] is not None  # the steward who took it keeps the credit
        assert row["done"] is not None
        async with http.get("/api/help") as r:
            assert (await r.json())["help"] == []


@pytest.fixture
async def server_site(tmp_path: Path, cups: CupsInstance) -> AsyncIterator[Running]:
    clock = ManualClock(time.time())
    uri = f"ipp://127.0.0.1:{cups.port}/printers/{cups.printer}"
    base = make_settings(database=str(tmp_path / "db.sqlite"))
    settings = site_settings(
        base.with_(
            printers=(SitePrinterSpec(id="VirtualPDF", uri=uri, x=4, y=7, via_server=True),)
        ),
        print_server_log=str(cups.page_log),
    )
    running, served = await start(settings, clock)
    # PC-07 enrolled with the host name the print server logs for it (loopback here: localhost)
    await running.app[keys.STORE].write(
        lambda db: db.execute("UPDATE stations SET hostname = 'localhost' WHERE id = 'PC-07'")
    )
    yield running
    await running.close()


@needs_cups
async def test_a_job_printed_in_a_session_is_counted_once_on_that_session(
    server_site: Running, cups: CupsInstance, tmp_path: Path
) -> None:
    site = server_site
    now = site.clock.now()
    for station, sid in (("PC-07", "s-pc07"), ("PC-08", "s-pc08")):
        ev = p.SessionStarted(
            id=f"e-{sid}", seq=1, at=now - 60, session_id=sid, start=now - 60, end=now + 3540
        )
        assert await site.apply(station, ev) == "new"

    job = await asyncio.to_thread(cups.lp, tiny_pdf(tmp_path / "two.pdf", pages=2), "cv", 2)
    await asyncio.to_thread(cups.wait_jobs_done)
    # PC-07's agent saw the job in its own CUPS too: same queue name and, by chance, the same id
    agent_record = p.PrintJob(
        id="e-print", seq=2, at=site.clock.now(), job=str(job), printer="VirtualPDF", pages=4,
        session_id="s-pc07", source="cups",
    )  # fmt: skip
    assert await site.apply("PC-07", agent_record) == "new"
    # and PC-08 printed to a printer it drives directly: the agent counts that one
    direct = p.PrintJob(
        id="e-direct", seq=2, at=site.clock.now(), job=str(job), printer="HP_Desk", pages=1,
        session_id="s-pc08", source="cups",
    )  # fmt: skip
    assert await site.apply("PC-08", direct) == "new"

    await site.clock.advance(SERVER_LOG_SECONDS)
    rows = await wait_for(
        lambda: site.rows("SELECT * FROM print_jobs WHERE source = 'server'"),
        what="the server's job",
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["job_key"] == f"server/virtualpdf#{job}@{int(row['at'])}"
    assert (row["station"], row["session_id"], row["printer"], row["pages"]) == (
        "PC-07", "s-pc07", "VirtualPDF", 4,
    )  # fmt: skip
    assert abs(row["at"] - time.time()) < 120

    await site.clock.advance(SERVER_LOG_SECONDS)  # read again: nothing new, nothing twice
    await asyncio.sleep(0.3)
    jobs = await site.rows(
        "SELECT job_key, station, session_id, pages FROM print_jobs ORDER BY job_key"
    )
    assert jobs == [
        {"job_key": f"pc-08/hp_desk#{job}@{int(direct.at)}", "station": "PC-08", "session_id": "s-pc08", "pages": 1},
        {
            "job_key": row["job_key"],
            "station": "PC-07",
            "session_id": "s-pc07",
            "pages": 4,
        },
    ]
    sessions = await site.rows("SELECT id, pages_bw, pages_colour FROM sessions ORDER BY id")
    assert sessions == [
        {"id": "s-pc07", "pages_bw": 4, "pages_colour": 0},
        {"id": "s-pc08", "pages_bw": 1, "pages_colour": 0},
    ]
    # the agent's record is still in the audit trail
    assert len(await site.rows("SELECT id FROM events WHERE id = 'e-print'")) == 1
    assert site.app[PRINTING].jobs_counted == 1


@needs_cups
async def test_a_restart_reads_the_whole_log_again_and_counts_nothing_twice(
    server_site: Running, cups: CupsInstance, tmp_path: Path
) -> None:
    site = server_site
    await asyncio.to_thread(cups.lp, tiny_pdf(tmp_path / "one.pdf", pages=1), "x", 1)
    await asyncio.to_thread(cups.wait_jobs_done)
    await site.clock.advance(SERVER_LOG_SECONDS)
    await wait_for(lambda: site.rows("SELECT id FROM print_jobs"), what="the job")
    # the controller restarts on the same store (one at a time: the store is locked) and reads the
    # same page_log again from the top
    settings = site.app[keys.SETTINGS].with_(port=0)
    await site.close()
    again, served = await start(settings, site.clock)
    try:
        await site.clock.advance(SERVER_LOG_SECONDS)
        await asyncio.sleep(0.5)
        rows = await again.rows("SELECT station, session_id, pages FROM print_jobs")
        assert rows == [{"station": "PC-07", "session_id": None, "pages": 1}]
        assert again.app[PRINTING].jobs_counted == 0
    finally:
        await served.close()


def test_printer_uris_and_server_queues_from_the_site_configuration() -> None:
    direct = PrinterSpec(id="PRN-1", uri="ipps://printer.lan/ipp/print")
    served = SitePrinterSpec(
        id="Hall", uri="ipp://print-server:8631/printers/HP_Hall", via_server=True
    )
    bare = PrinterSpec(id="PRN-3")
    assert ipp_config(direct) == PrinterConfig("PRN-1", "printer.lan", 631, "/ipp/print", True)
    assert ipp_config(served) == PrinterConfig(
        "Hall", "print-server", 8631, "/printers/HP_Hall", False
    )
    assert ipp_config(bare) is None
    assert ipp_config(PrinterSpec(id="x", uri="socket://10.0.0.9:9100")) is None
    assert server_queue_names([direct, served, bare]) == {"hall", "hp_hall"}
    assert printer_id_for_queue("hp_hall", [direct, served]) == "Hall"
    assert printer_id_for_queue("Other", [direct, served]) == "Other"


def test_the_agent_key_is_per_station_and_server_queues_have_none() -> None:
    assert print_job_key("HP_Desk", "7", "PC-07") == "pc-07/hp_desk#7"
    assert print_job_key("HP_Desk", "7", "PC-08") != print_job_key("HP_Desk", "7", "PC-07")
    assert print_job_key("HP_Hall", "7", "PC-07", {"hp_hall"}) is None
