"""Enrolment as an attacker on the public LAN tries to win it, each attack a script against the real controller.

The attacker speaks the agents' protocol with a plain WebSocket client (a laptop
on the floor's network, or a web page a visitor opened); the real station is a
real :class:`agent.core.Agent`; the admin uses the staff API as the floor page
does. Each test failed on the main branch of 2026-12-01: a later hello replaced
an approved request (``INSERT OR REPLACE``), an approval named only the station,
the code carried 32 bits, a re-enrolment of a connected station looked like a
new station, and ``/ws/agent`` took any browser's Origin.
"""

from __future__ import annotations

import secrets

import aiohttp
import pytest

from agent.core import Agent
from agent.outbox import Outbox
from controller import enrolment, staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace import enrolcode
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import wait_for
from tests.support.served import serve

PASSWORD = "admin password 1"


@pytest.fixture
async def site(tmp_path):
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    served = await serve(create_app(make_settings(database=str(tmp_path / "c.db")), clock))
    await served.app[keys.STORE].write(lambda db: staff.add_staff(db, "ada", PASSWORD, "admin", "en", clock.now()))
    http = aiohttp.ClientSession(served.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post("/login", json={"login": "ada", "password": PASSWORD}) as r:
        csrf = (await r.json())["me"]["csrf"]
    yield served, http, {"X-CSRF-Token": csrf}
    await http.close()
    await served.close()


async def attacker_hello(url: str, station: str, key: str, **headers: str) -> tuple[dict, int | None]:
    """One enrolment hello as a script sends it: (the first answer, the close code)."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=headers) as ws:
        hello = p.Hello(station=station, enrol_key=key, hostname="laptop", platform="linux")
        await ws.send_str(p.encode(hello))
        first = await ws.receive(timeout=10)
        answer = p.msgspec.json.decode(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
        if answer.get("type") == "welcome":  # let in: the link stays open until we leave
            return answer, None
        await ws.receive(timeout=10)
        return answer, ws.close_code


async def listed(http: aiohttp.ClientSession) -> list[dict]:
    async with http.get("/api/enrolments") as r:
        assert r.status == 200
        return (await r.json())["enrolments"]


def real_station(served, tmp_path, station: str, token: str | None = None) -> Agent:
    """The real station: its outbox (and the enrolment key in it) on disk, so that a restart finds them again."""
    return Agent(station, token, served.ws_url, Outbox(tmp_path / f"{station}.outbox.db"), clock=served.app[keys.CLOCK],
                 token_file=tmp_path / f"{station}.token", hostname=f"{station.lower()}.espace.lan", platform="linux")


async def test_a_request_after_the_approval_does_not_replace_it_and_only_the_approved_key_gets_the_token(site, tmp_path):
    served, http, headers = site
    agent = real_station(served, tmp_path, "PC-12")
    await agent.start()
    (real,) = await wait_for(lambda: listed(http), what="the real station's request")
    assert real["fingerprint"] == enrolcode.code_for_key(agent.enrol_key)  # the code on its screen
    await agent.stop()  # between two of its attempts
    agent.outbox.close()
    # the admin approves what they compared
    async with http.post("/api/enrolments/PC-12/approve", headers=headers, json={"code": real["fingerprint"]}) as r:
        assert r.status == 200, await r.text()

    # the attacker asks for PC-12 right after, with a key of their own, twice
    evil = secrets.token_urlsafe(24)
    for _ in range(2):
        answer, code = await attacker_hello(served.ws_url, "PC-12", evil)
        assert (answer["type"], code) == ("pending", 4403)  # no token: that key was never approved
        assert "token" not in answer
    both = await listed(http)
    assert [(r["fingerprint"], r["status"]) for r in both] == [
        (real["fingerprint"], "approved"),  # untouched
        (enrolcode.code_for_key(evil), "pending"),  # listed beside it, with its own code and address
    ]
    assert all(r["peer"] == "127.0.0.1" and not r["reenrol"] for r in both)

    agent = real_station(served, tmp_path, "PC-12")  # the real station tries again, with the key it kept
    await agent.start()
    try:
        await wait_for(agent.connected.is_set, within=30, what="the approved station to collect its token")
        assert (tmp_path / "PC-12.token").read_text() == agent.token
        # the stranger's request still waits, now as what it is: a re-enrolment of a connected station
        (left,) = await listed(http)
        assert (left["fingerprint"], left["reenrol"], left["connected"]) == (enrolcode.code_for_key(evil), True, True)
    finally:
        await agent.stop()
        agent.outbox.close()


async def test_an_approval_names_the_code_and_a_forged_collision_is_refused(site, tmp_path):
    served, http, headers = site
    store = served.app[keys.STORE]
    real, evil = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    for key in (real, evil):
        answer, _ = await attacker_hello(served.ws_url, "PC-14", key)
        assert answer["fingerprint"] == enrolcode.code_for_key(key)
    rows = await listed(http)
    assert len(rows) == 2  # neither replaced the other

    # the code carries 80 bits (at least 64): 16 characters of 5 bits, and every one of those bits shows
    code = enrolcode.code_for_key(real)
    assert len(code.replace("-", "")) * 5 >= 64
    assert code.count("-") == 3
    digest = enrolcode.key_digest(real)
    flipped = {enrolcode.code_from_digest(f"{int(digest, 16) ^ (1 << (255 - bit)):064x}") for bit in range(enrolcode.BITS)}
    assert len(flipped) == enrolcode.BITS
    assert code not in flipped
    # so forging a key whose code matches the real one is a search of 2^80 keys (2^64 at the least asked for):
    # at 10^8 SHA-256 a second, about 3.8e8 years; the old 8-hex-digit code (2^32) took under a minute
    assert 2**enrolcode.BITS / 1e8 / 3.15e7 > 1e8

    async with http.post("/api/enrolments/PC-14/approve", headers=headers) as r:
        assert (r.status, (await r.json())["error"]) == (400, "no_code")  # the station's name alone approves nothing
    async with http.post("/api/enrolments/PC-14/approve", headers=headers, json={"code": "ABCD-1234"}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "bad_code")

    # suppose the attacker had paid for a collision: a second request whose key shares the real code's 80 bits
    forged_hash = digest[:20] + ("0" if digest[20] != "0" else "1") + digest[21:]
    await store.write(lambda db: db.execute(
        "INSERT INTO enrolments (station, key_hash, peer, requested, status) VALUES ('PC-14', ?, '192.0.2.66', 0, 'pending')",
        [forged_hash]))
    async with http.post("/api/enrolments/PC-14/approve", headers=headers, json={"code": code.lower()}) as r:
        assert (r.status, (await r.json())["error"]) == (409, "ambiguous")  # two keys behind one code: nobody gets in
    async with http.post("/api/enrolments/PC-14/reject", headers=headers, json={"code": code}) as r:
        assert r.status == 200  # the admin rejects both, and the real station asks again with a new key

    async with http.post("/api/enrolments/PC-14/approve", headers=headers, json={"code": enrolcode.code_for_key(evil)}) as r:
        assert r.status == 200  # what is approved is that key, and only it
    answer, code = await attacker_hello(served.ws_url, "PC-14", real)
    assert (answer, code) == ({}, 4401)  # the rejected key stays out
    answer, _ = await attacker_hello(served.ws_url, "PC-14", evil)
    assert answer["type"] == "welcome"
    assert answer["token"]
    events = await store.read(lambda db: [tuple(r) for r in db.execute("SELECT type, body FROM events WHERE actor = 'ada' ORDER BY received")])
    assert [t for t, _ in events] == ["staff.enrolment_rejected", "staff.enrolment_rejected", "staff.enrolment_approved"]
    assert enrolcode.code_for_key(evil) in events[-1][1]  # the audit trail says which key was let in


async def test_a_re_enrolment_of_a_connected_station_needs_a_confirmation_and_leaves_it_alone_until_then(site, tmp_path):
    served, http, headers = site
    token = await served.add_station("PC-03")
    agent = real_station(served, tmp_path, "PC-03", token)
    await agent.start()
    try:
        await wait_for(agent.connected.is_set, what="the real station connected")
        evil = secrets.token_urlsafe(24)
        answer, code = await attacker_hello(served.ws_url, "PC-03", evil)
        assert (answer["type"], code) == ("pending", 4403)
        (req,) = await listed(http)
        assert (req["reenrol"], req["connected"]) == (True, True)  # not "a new station"
        for body in ({"code": req["fingerprint"]}, {"code": req["fingerprint"], "reenrol": False}):
            async with http.post("/api/enrolments/PC-03/approve", headers=headers, json=body) as r:
                assert (r.status, (await r.json())["error"]) == (409, "confirm_reenrol")
        # nothing happened to the live station: still on line, with the token it had
        connects = agent.connects
        assert agent.connected.is_set()
        assert agent.token == token
        row = await served.app[keys.STORE].read(lambda db: db.execute("SELECT status, token_hash FROM stations WHERE id = 'PC-03'").fetchone())
        assert row[0] == "approved"
        assert row[1] is not None
        assert (await listed(http))[0]["status"] == "pending"

        # confirmed: now, and only now, the approved key takes the station's place
        async with http.post("/api/enrolments/PC-03/approve", headers=headers, json={"code": req["fingerprint"], "reenrol": True}) as r:
            assert r.status == 200
        assert agent.connected.is_set()
        assert agent.connects == connects
        answer, _ = await attacker_hello(served.ws_url, "PC-03", evil)
        assert answer["type"] == "welcome"
        await wait_for(lambda: agent.token is None or not agent.connected.is_set(), within=30, what="the replaced station to lose its link")
    finally:
        await agent.stop()
        agent.outbox.close()


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1.evil.example"])
async def test_a_web_page_of_another_origin_cannot_open_the_agents_socket(site, origin):
    served, http, _headers = site
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await attacker_hello(served.ws_url, "PC-20", secrets.token_urlsafe(24), Origin=origin)
    assert refused.value.status == 403
    assert await listed(http) == []  # no request recorded


async def test_the_kiosk_page_of_the_controller_itself_and_agents_without_origin_are_let_through(site):
    served, http, _headers = site
    answer, code = await attacker_hello(served.ws_url, "TAB-05", secrets.token_urlsafe(24), Origin=served.url)
    assert (answer["type"], code) == ("pending", 4403)
    answer, code = await attacker_hello(served.ws_url, "TAB-06", secrets.token_urlsafe(24))
    assert (answer["type"], code) == ("pending", 4403)
    assert sorted(r["station"] for r in await listed(http)) == ["TAB-05", "TAB-06"]


async def test_a_flood_of_requests_for_one_station_is_bounded(site):
    served, http, _headers = site
    for _ in range(enrolment.MAX_OPEN + 3):
        answer, code = await attacker_hello(served.ws_url, "PC-30", secrets.token_urlsafe(24))
        assert (answer["type"], code) == ("pending", 4403)
    assert len(await listed(http)) == enrolment.MAX_OPEN
