"""Staff accounts from the dashboard: created, listed without hashes, disabled (sessions and sockets
ended), enabled, given another role or a new password, by admins only, and written to the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace.clock import ManualClock, parse_instant
from tests.support.served import Served, serve

PASSWORD = "admin password 1"
SAM_PASSWORD = "steward password 1"


@dataclass
class Site:
    served: Served
    clients: list[aiohttp.ClientSession]

    @property
    def app(self) -> web.Application:
        return self.served.app

    async def login(self, login: str, password: str) -> tuple[aiohttp.ClientSession, dict[str, str]]:
        """A client logged in as ``login`` and the headers that carry its CSRF token."""
        http = aiohttp.ClientSession(self.served.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.clients.append(http)
        async with http.post("/login", json={"login": login, "password": password}) as r:
            assert r.status == 200, await r.text()
            return http, {"X-CSRF-Token": (await r.json())["me"]["csrf"]}

    async def status_of_login(self, login: str, password: str) -> int:
        async with aiohttp.ClientSession(self.served.url) as http, http.post("/login", json={"login": login, "password": password}) as r:
            return r.status

    async def events(self) -> list[tuple[str, str, dict]]:
        rows = await self.app[keys.STORE].read(
            lambda db: db.execute("SELECT type, actor, body FROM events WHERE type LIKE 'staff.account_%' ORDER BY received, rowid").fetchall()
        )
        return [(r[0], r[1], json.loads(r[2])) for r in rows]


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[Site]:
    clock = ManualClock(parse_instant("2026-11-19T10:00"))
    served = await serve(create_app(make_settings(database=str(tmp_path / "c.db")), clock))
    now = clock.now()
    await served.app[keys.STORE].write(
        lambda db: [staff.add_staff(db, *a, now) for a in (("ada", PASSWORD, "admin", "en"), ("bo", "backoffice password", "backoffice", "nl"))]
    )
    s = Site(served, [])
    yield s
    for http in s.clients:
        await http.close()
    await served.close()


async def test_an_admin_creates_and_lists_accounts_without_any_hash(site: Site) -> None:
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff", json={"login": "sam", "password": SAM_PASSWORD, "role": "steward", "lang": "nl"}, headers=csrf) as r:
        assert r.status == 201
        assert (await r.json())["staff"]["login"] == "sam"
    async with http.get("/api/staff") as r:
        assert r.status == 200
        text = await r.text()
    accounts = {a["login"]: a for a in json.loads(text)["staff"]}
    assert sorted(accounts) == ["ada", "bo", "sam"]
    assert {k: accounts["sam"][k] for k in ("role", "lang", "disabled", "created")} == {
        "role": "steward", "lang": "nl", "disabled": False, "created": site.app[keys.CLOCK].now(),
    }  # fmt: skip
    assert not [w for w in ("argon2", "hash", SAM_PASSWORD) if w in text]
    assert await site.status_of_login("sam", SAM_PASSWORD) == 200
    assert await site.events() == [("staff.account_added", "ada", {"login": "sam", "role": "steward", "lang": "nl"})]


async def test_invalid_accounts_are_refused_with_a_code_and_its_params(site: Site) -> None:
    http, csrf = await site.login("ada", PASSWORD)
    cases = [
        ({"login": "bo", "password": SAM_PASSWORD, "role": "steward"}, 409, "staff_exists", {"login": "bo"}),
        ({"login": "Sam Smith", "password": SAM_PASSWORD, "role": "steward"}, 400, "bad_login", {}),
        ({"login": "sam\n", "password": SAM_PASSWORD, "role": "steward"}, 400, "bad_login", {}),
        ({"login": "sam", "password": "short", "role": "steward"}, 400, "short_password", {"min": staff.MIN_PASSWORD}),
        ({"login": "sam", "password": SAM_PASSWORD, "role": "boss"}, 400, "bad_role", {}),
        ({"login": "sam", "password": SAM_PASSWORD, "role": "steward", "lang": "de"}, 400, "bad_lang", {}),
        ({"login": "sam", "password": 1234567890123, "role": "steward"}, 400, "bad_body", {"field": "password"}),
    ]
    for body, status, code, params in cases:
        async with http.post("/api/staff", json=body, headers=csrf) as r:
            answer = await r.json()
            assert (r.status, answer["error"], answer["params"]) == (status, code, params), body
    async with http.post("/api/staff", data="[1]", headers={**csrf, "Content-Type": "application/json"}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "bad_body")
    rows = await site.app[keys.STORE].read(staff.list_staff)
    assert [s.login for s in rows] == ["ada", "bo"]
    assert await site.events() == []


async def test_only_admins_may_and_only_with_the_csrf_token(site: Site) -> None:
    await site.app[keys.STORE].write(lambda db: staff.add_staff(db, "sam", SAM_PASSWORD, "steward", "fr", 0.0))
    for login, password in (("sam", SAM_PASSWORD), ("bo", "backoffice password")):
        http, csrf = await site.login(login, password)
        async with http.get("/api/staff") as r:
            assert r.status == 403
        async with http.get("/admin/staff") as r:
            assert r.status == 403
        async with http.post("/api/staff/ada/disable", headers=csrf) as r:
            assert (r.status, (await r.json())["error"]) == (403, "forbidden")
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff", json={"login": "eve", "password": SAM_PASSWORD, "role": "admin"}) as r:
        assert (r.status, (await r.json())["error"]) == (403, "csrf")
    async with http.post("/api/staff/sam/disable") as r:
        assert (r.status, (await r.json())["error"]) == (403, "csrf")
    async with http.get("/admin/staff") as r:
        assert r.status == 200
        assert "staff.js" in await r.text()
    assert [s.login for s in await site.app[keys.STORE].read(staff.list_staff)] == ["ada", "bo", "sam"]
    assert await site.status_of_login("sam", SAM_PASSWORD) == 200


async def test_disabling_ends_the_accounts_session_and_socket_and_enabling_lets_it_back(site: Site) -> None:
    await site.app[keys.STORE].write(lambda db: staff.add_staff(db, "sam", SAM_PASSWORD, "steward", "fr", 0.0))
    sam, _ = await site.login("sam", SAM_PASSWORD)
    async with sam.get("/api/me") as r:
        assert r.status == 200  # its session is cached now
    feed = await sam.ws_connect("/ws/floor")
    await feed.receive_json()  # the snapshot
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff/sam/disable", headers=csrf) as r:
        assert r.status == 200
        assert (await r.json())["staff"]["disabled"] is True
    async with sam.get("/api/me") as r:
        assert r.status == 401  # at once, not when the cache would have expired
    msg = await feed.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert await site.status_of_login("sam", SAM_PASSWORD) == 401
    async with http.post("/api/staff/nobody/disable", headers=csrf) as r:
        assert (r.status, await r.json()) == (404, {"error": "no_staff", "message": "no staff account nobody", "params": {"login": "nobody"}})

    async with http.post("/api/staff/sam/enable", headers=csrf) as r:
        assert (r.status, (await r.json())["staff"]["disabled"]) == (200, False)
    assert await site.status_of_login("sam", SAM_PASSWORD) == 200
    assert [(t, a, b) for t, a, b in await site.events()] == [
        ("staff.account_disabled", "ada", {"login": "sam", "sessions_ended": 1}),
        ("staff.account_enabled", "ada", {"login": "sam"}),
    ]


async def test_an_admin_can_neither_disable_nor_demote_their_own_account(site: Site) -> None:
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff/ada/disable", headers=csrf) as r:
        assert (r.status, (await r.json())["error"]) == (409, "self_disable")
    for role in ("steward", "backoffice"):
        async with http.post("/api/staff/ada/role", json={"role": role}, headers=csrf) as r:
            assert (r.status, (await r.json())["error"]) == (409, "self_demote")
    async with http.get("/api/me") as r:
        assert (r.status, (await r.json())["role"]) == (200, "admin")
    assert await site.events() == []


async def test_a_new_role_holds_from_the_accounts_next_request(site: Site) -> None:
    bo, _ = await site.login("bo", "backoffice password")
    async with bo.get("/api/staff") as r:
        assert r.status == 403  # and its session is cached
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff/bo/role", json={"role": "admin"}, headers=csrf) as r:
        assert (r.status, (await r.json())["staff"]["role"]) == (200, "admin")
    async with bo.get("/api/staff") as r:
        assert r.status == 200
    async with http.post("/api/staff/bo/role", json={"role": "king"}, headers=csrf) as r:
        assert (r.status, (await r.json())["error"]) == (400, "bad_role")
    assert await site.events() == [("staff.account_role", "ada", {"login": "bo", "role": "admin"})]


async def test_a_password_reset_lets_the_account_in_with_the_new_password_only(site: Site) -> None:
    await site.app[keys.STORE].write(lambda db: staff.add_staff(db, "sam", SAM_PASSWORD, "steward", "fr", 0.0))
    sam, _ = await site.login("sam", SAM_PASSWORD)
    http, csrf = await site.login("ada", PASSWORD)
    async with http.post("/api/staff/sam/password", json={"password": "short"}, headers=csrf) as r:
        assert (r.status, (await r.json())["error"]) == (400, "short_password")
    async with http.post("/api/staff/sam/password", json={"password": "a brand new one"}, headers=csrf) as r:
        assert r.status == 200
    async with sam.get("/api/me") as r:
        assert r.status == 401  # whoever knew the old password is out
    assert await site.status_of_login("sam", SAM_PASSWORD) == 401
    assert await site.status_of_login("sam", "a brand new one") == 200

    # an admin changing their own keeps the session they changed it from
    async with http.post("/api/staff/ada/password", json={"password": "admin password 2"}, headers=csrf) as r:
        assert r.status == 200
    async with http.get("/api/me") as r:
        assert r.status == 200
    assert await site.status_of_login("ada", "admin password 2") == 200

    events = await site.events()
    assert [(t, b["login"]) for t, _, b in events] == [("staff.account_password", "sam"), ("staff.account_password", "ada")]
    raw = await site.app[keys.STORE].read(lambda db: " ".join(r[0] for r in db.execute("SELECT body FROM events")))
    assert not [w for w in ("brand new", "admin password", "short") if w in raw]
