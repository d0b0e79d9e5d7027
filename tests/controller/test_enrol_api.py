"""New stations through the staff API: listed with their code, approved or rejected, revoked for good."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from agent.core import Agent
from agent.outbox import Outbox
from controller import enrolment, staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import wait_for
from tests.support.served import serve

PASSWORD = "admin password 1"


@pytest.fixture
async def site(tmp_path):
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    served = await serve(create_app(make_settings(database=str(tmp_path / "c.db")), clock))
    await served.app[keys.STORE].write(lambda db: staff.add_staff(db, "ada", PASSWORD, "admin", "en", clock.now()))
    feed: list[dict] = []
    q = served.app[keys.FLOOR].subscribe()

    async def listen() -> None:
        while True:
            feed.append(await q.get())

    listener = asyncio.create_task(listen())
    http = aiohttp.ClientSession(served.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post("/login", json={"login": "ada", "password": PASSWORD}) as r:
        csrf = (await r.json())["me"]["csrf"]
    yield served, http, {"X-CSRF-Token": csrf}, feed
    listener.cancel()
    await http.close()
    await served.close()


async def test_a_new_station_is_listed_approved_collects_its_token_then_is_revoked_for_good(site, tmp_path):
    served, http, headers, feed = site
    agent = Agent("PC-12", None, served.ws_url, Outbox(":memory:"), clock=served.app[keys.CLOCK],
                  token_file=tmp_path / "token", hostname="pc-12.espace.lan", platform="linux")
    await agent.start()
    try:
        async def listed() -> list[dict]:
            async with http.get("/api/enrolments") as r:
                return (await r.json())["enrolments"]

        (req,) = await wait_for(listed, what="the request listed")
        assert (req["station"], req["hostname"], req["status"]) == ("PC-12", "pc-12.espace.lan", "pending")
        assert req["fingerprint"] == enrolment.fingerprint(agent.enrol_key)  # what the station shows
        assert any(m["type"] == "enrolment" and m["station"] == "PC-12" for m in feed)

        code = {"code": req["fingerprint"]}
        async with http.post("/api/enrolments/PC-12/approve", headers=headers, json=code) as r:
            assert r.status == 200
            assert await r.json() == {"ok": True, "status": "approved"}
        async with http.post("/api/enrolments/PC-12/approve", headers=headers, json=code) as r:
            assert r.status == 404  # decided already
            assert (await r.json())["error"] == "no_enrolment"
        await wait_for(agent.connected.is_set, within=60, what="the approved station to connect")
        assert await listed() == []  # it collected its token
        assert (tmp_path / "token").read_text().strip() == agent.token

        async with http.post("/api/stations/PC-12/revoke", headers=headers) as r:
            assert r.status == 200
        await wait_for(lambda: not agent.connected.is_set(), within=10, what="the revoked station to be dropped")
        row = await served.app[keys.STORE].read(lambda db: db.execute("SELECT status, token_hash FROM stations WHERE id = 'PC-12'").fetchone())
        assert tuple(row) == ("revoked", None)  # the old token is gone for good
        types = await served.app[keys.STORE].read(lambda db: [r[0] for r in db.execute("SELECT type FROM events WHERE actor = 'ada' ORDER BY received")])
        assert types == ["staff.enrolment_approved", "staff.revoke"]
    finally:
        await agent.stop()


async def test_a_rejected_station_stays_out(site, tmp_path):
    served, http, headers, _feed = site
    agent = Agent("PC-13", None, served.ws_url, Outbox(":memory:"), clock=served.app[keys.CLOCK], token_file=tmp_path / "token")
    await agent.start()
    try:
        async def pending() -> bool:
            async with http.get("/api/enrolments") as r:
                return bool((await r.json())["enrolments"])

        await wait_for(pending, what="the request")
        async with http.post("/api/enrolments/PC-13/reject", headers=headers) as r:
            assert await r.json() == {"ok": True, "status": "rejected"}
        assert not await pending()  # a rejected request leaves the list
        async with http.post("/api/enrolments/PC-99/approve", headers=headers, json={"code": "0000-0000-0000-0000"}) as r:
            assert r.status == 404
        assert not agent.connected.is_set()
        assert not (tmp_path / "token").exists()
    finally:
        await agent.stop()
