"""Staff authentication: every protected route refused without login, with the wrong role and
without a CSRF token; throttled failed logins; argon2 hashes; logout invalidates."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.auth import AUTH
from espace.clock import ManualClock, parse_instant
from tests.support.served import serve

PASSWORD = "correct horse battery"
GET_ROUTES = ["/floor", "/api/floor", "/api/help", "/api/me", "/api/site", "/live"]
POST_ACTIONS = [
    "/api/stations/PC-01/extend", "/api/stations/PC-01/end", "/api/stations/PC-01/message",
    "/api/stations/PC-01/lock", "/api/stations/PC-01/unlock", "/api/stations/PC-01/open",
    "/api/help/abc/take", "/api/help/abc/done", "/api/stations/PC-01/dismiss-escape",
]  # fmt: skip
ADMIN_ONLY = ["/api/stations/PC-01/approve", "/api/stations/PC-01/revoke", "/api/enrolments/PC-01/approve", "/api/enrolments/PC-01/reject"]


class Wall:
    """Real time for staff sessions and the throttle, moved by hand."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class Site:
    def __init__(self, url: str, app: web.Application, db: Path, clock: ManualClock) -> None:
        self.url, self.app, self.db, self.clock = url, app, db, clock
        self.wall = Wall()
        app[AUTH].wall = self.wall

    async def add(self, login: str, role: str) -> None:
        now = self.clock.now()
        await self.app[keys.STORE].write(lambda db: staff.add_staff(db, login, PASSWORD, role, "fr", now))

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, http: aiohttp.ClientSession, login: str, password: str = PASSWORD) -> dict[str, Any]:
        async with http.post("/login", json={"login": login, "password": password}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
            cookie = r.cookies["espace_staff"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
            return body["me"]  # type: ignore[no-any-return]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = ManualClock(parse_instant("2026-11-19T10:00"))
    db = tmp_path / "db.sqlite"
    served = await serve(create_app(make_settings(database=str(db)), clock))
    s = Site(served.url, served.app, db, clock)
    await s.add("sam", "steward")
    await s.add("bob", "backoffice")
    await s.add("ada", "admin")
    yield s
    await served.close()


async def test_every_protected_route_refuses_without_login(site: Site) -> None:
    async with site.client() as http:
        for path in GET_ROUTES:
            async with http.get(path, allow_redirects=False) as r:
                if path.startswith("/api/"):
                    assert r.status == 401, path
                    assert (await r.json())["error"] == "login_required"
                else:
                    assert r.status == 302, path
                    assert r.headers["Location"].startswith("/login"), path
        for path in POST_ACTIONS + ADMIN_ONLY + ["/logout", "/api/me/lang"]:
            async with http.post(path, json={}, allow_redirects=False) as r:
                assert r.status == 401, path
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect("/ws/floor")
        assert err.value.status == 401
        # the public routes stay public
        for path in ["/healthz", "/login", "/i18n/nl.json", "/static/floor.css"]:
            async with http.get(path) as r:
                assert r.status == 200, path


async def test_wrong_role_is_forbidden(site: Site) -> None:
    async with site.client() as http:
        me = await site.login(http, "bob")
        assert me["role"] == "backoffice"
        headers = {"X-CSRF-Token": me["csrf"]}
        async with http.get("/api/floor") as r:
            assert r.status == 200  # back office may look at the floor
        for path in POST_ACTIONS:
            async with http.post(path, json={"reason": "x", "text": "x"}, headers=headers) as r:
                assert r.status == 403, path
                assert (await r.json())["error"] == "forbidden"
    async with site.client() as http:
        me = await site.login(http, "sam")
        for path in ADMIN_ONLY:
            async with http.post(path, headers={"X-CSRF-Token": me["csrf"]}) as r:
                assert r.status == 403, path
        async with http.get("/api/enrolments") as r:
            assert r.status == 403  # stewards do not let stations in
        async with http.get("/reports") as r:
            assert r.status == 403
    async with site.client() as http:
        me = await site.login(http, "ada")
        async with http.post("/api/stations/PC-01/revoke", headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 200
    rows = _rows(site.db, "SELECT actor, type FROM events WHERE type LIKE 'staff.%'")
    assert rows == [("ada", "staff.revoke")]


async def test_state_changes_need_the_csrf_token(site: Site) -> None:
    async with site.client() as http:
        me = await site.login(http, "sam")
        for path in POST_ACTIONS + ["/logout"]:
            async with http.post(path, json={"reason": "x"}) as r:
                assert r.status == 403, path
                assert (await r.json())["error"] == "csrf"
            async with http.post(path, json={"reason": "x"}, headers={"X-CSRF-Token": "wrong" + me["csrf"]}) as r:
                assert r.status == 403, path
        # with the token, the action runs and meets the floor: PC-01 is offline here
        async with http.post("/api/stations/PC-01/message", json={"text": "hello"}, headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 503
            assert (await r.json())["error"] == "offline"
        async with http.post("/api/stations/PC-01/extend", json={}, headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 409
            assert (await r.json())["error"] == "no_session"
        # a cross-origin request is refused even with the cookie and token
        async with http.post("/api/stations/PC-01/message", json={"text": "x"},
                             headers={"X-CSRF-Token": me["csrf"], "Origin": "http://evil.example"}) as r:  # fmt: skip
            assert r.status == 403
    assert [r[0] for r in _rows(site.db, "SELECT type FROM events WHERE actor = 'sam' ORDER BY at")] == ["staff.message", "staff.extend"]


async def test_an_action_body_that_is_not_an_object_is_refused(site: Site) -> None:
    """``[null, null]`` used to pass as ``{}``: unlock ran on it (found by the OpenAPI fuzz)."""
    async with site.client() as http:
        me = await site.login(http, "sam")
        for path in ("/api/stations/PC-01/unlock", "/api/stations/PC-01/extend", "/api/stations/PC-01/lock"):
            for body in ("[null, null]", '"x"', "1", "null"):
                headers = {"X-CSRF-Token": me["csrf"], "Content-Type": "application/json"}
                async with http.post(path, data=body, headers=headers) as r:
                    assert (r.status, (await r.json())["error"]) == (400, "bad_json"), (path, body)
    assert _rows(site.db, "SELECT type FROM events WHERE actor = 'sam'") == []


async def test_an_origin_that_is_not_a_url_is_another_origin(site: Site) -> None:
    """``Origin: http://[`` made urlsplit raise: a 500 on every protected route and on login."""
    async with site.client() as http:
        me = await site.login(http, "sam")
        for origin in ("http://[", "http://[::1", "https://[v1.x]:x"):
            async with http.get("/api/floor", headers={"Origin": origin}) as r:
                assert (r.status, (await r.json())["error"]) == (403, "cross_origin"), origin
            async with http.post("/api/me/lang", json={"lang": "nl"}, headers={"Origin": origin, "X-CSRF-Token": me["csrf"]}) as r:
                assert r.status == 403, origin
            async with http.post("/login", json={"login": "sam", "password": PASSWORD}, headers={"Origin": origin}) as r:
                assert (r.status, (await r.json())["error"]) == (403, "cross_origin"), origin


async def test_failed_logins_are_throttled(site: Site) -> None:
    async with site.client() as http:
        for _ in range(staff.FREE_FAILURES - 1):
            async with http.post("/login", json={"login": "sam", "password": "nope"}) as r:
                assert r.status == 401
        async with http.post("/login", json={"login": "sam", "password": "nope"}) as r:
            assert r.status == 401  # the fifth failure locks the login
        async with http.post("/login", json={"login": "sam", "password": PASSWORD}) as r:
            assert r.status == 429  # even the right password waits
            assert int(r.headers["Retry-After"]) == 60
        site.wall.t += 61
        async with http.post("/login", json={"login": "sam", "password": "nope"}) as r:
            assert r.status == 401
        async with http.post("/login", json={"login": "sam", "password": PASSWORD}) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) == 120  # doubled
        site.wall.t += 121
        await site.login(http, "sam")
    # per (login, address): guesses at other logins from this address do not lock a colleague out
    async with site.client() as http:
        for i in range(staff.FREE_FAILURES + 1):
            async with http.post("/login", json={"login": f"guess{i}", "password": "x"}) as r:
                assert r.status == 401
        await site.login(http, "ada")


async def test_a_staff_session_lasts_a_working_day_of_real_time_whatever_the_site_clock(site: Site) -> None:
    async with site.client() as http:
        await site.login(http, "sam")
        site.clock.set(site.clock.now() + 3 * 24 * 3600)  # a simulated floor races ahead (the demo runs at x30)
        site.app[AUTH].cache.clear()
        async with http.get("/api/me") as r:
            assert r.status == 200
        site.wall.t += staff.SESSION_TTL_S - 60
        site.app[AUTH].cache.clear()
        async with http.get("/api/me") as r:
            assert r.status == 200
        site.wall.t += 120  # past the working day
        site.app[AUTH].cache.clear()
        async with http.get("/api/me") as r:
            assert r.status == 401
            assert (await r.json())["error"] == "login_required"


async def test_passwords_are_stored_as_argon2_hashes(site: Site) -> None:
    rows = _rows(site.db, "SELECT login, password_hash FROM staff")
    assert len(rows) == 3
    for _login, h in rows:
        assert h.startswith("$argon2id$")
        assert PASSWORD not in h
    raw = site.db.read_bytes()
    assert PASSWORD.encode() not in raw


async def test_a_hash_from_the_old_argon2_setting_still_logs_in_and_is_rewritten(site: Site) -> None:
    """A store made before the OWASP setting holds argon2-cffi's default hashes (64 MiB, 3 passes, 4 lanes)."""
    from argon2 import PasswordHasher

    old = PasswordHasher().hash(PASSWORD)
    assert "m=65536,t=3,p=4" in old
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE staff SET password_hash = ? WHERE login = 'sam'", (old,))
    async with site.client() as http:
        async with http.post("/login", json={"login": "sam", "password": "not the password"}) as r:
            assert r.status == 401
        assert _rows(site.db, "SELECT password_hash FROM staff WHERE login = 'sam'")[0][0] == old  # a failure rewrites nothing
        assert (await site.login(http, "sam"))["login"] == "sam"
    (new,) = _rows(site.db, "SELECT password_hash FROM staff WHERE login = 'sam'")[0]
    assert new != old
    assert "m=19456,t=2,p=1" in new
    assert staff.password_matches(new, PASSWORD)


async def test_logout_invalidates_the_session_and_its_socket(site: Site) -> None:
    async with site.client() as http:
        me = await site.login(http, "sam")
        token = http.cookie_jar.filter_cookies(URL(site.url))["espace_staff"].value
        ws = await http.ws_connect("/ws/floor")
        first = await ws.receive_json()
        assert first["type"] == "snapshot"
        assert len(first["stations"]) == 61
        async with http.post("/logout", headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 200
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
    async with site.client() as http:  # the old cookie, replayed, is worth nothing
        http.cookie_jar.update_cookies({"espace_staff": token})
        async with http.get("/api/me") as r:
            assert r.status == 401
    assert _rows(site.db, "SELECT count(*) FROM staff_sessions WHERE login = 'sam'") == [(0,)]


async def test_disabled_staff_cannot_log_in(site: Site) -> None:
    await site.app[keys.STORE].write(lambda db: staff.disable_staff(db, "bob"))
    async with site.client() as http, http.post("/login", json={"login": "bob", "password": PASSWORD}) as r:
        assert r.status == 401


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_cli_adds_lists_and_disables_staff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import io

    from controller import cli_staff

    parser = argparse.ArgumentParser()
    cli_staff.add_parser(parser.add_subparsers(dest="command", required=True))
    db = str(tmp_path / "cli.db")

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return int(args.func(args))

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert run("staff", "add", "amina", "--role", "admin", "--lang", "nl", "--password-stdin", "--database", db) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run("staff", "add", "joe", "--role", "steward", "--password-stdin", "--database", db) == 2
    assert run("staff", "list", "--database", db) == 0
    assert run("staff", "disable", "amina", "--database", db) == 0
    assert run("staff", "disable", "nobody", "--database", db) == 2
    out = capsys.readouterr()
    assert "amina                admin       nl" in out.out
    assert "at least 10 characters" in out.err
    [(h, disabled)] = _rows(Path(db), "SELECT password_hash, disabled FROM staff")
    assert str(h).startswith("$argon2id$")
    assert disabled == 1


async def test_help_is_taken_by_one_steward_and_its_times_are_recorded(site: Site) -> None:
    await site.add("lea", "steward")
    t0 = site.clock.now()
    await site.app[keys.STORE].write(
        lambda db: db.execute("INSERT INTO help_requests (id, station, requested) VALUES ('h1', 'PC-04', ?)", [t0])
    )
    async with site.client() as sam, site.client() as lea:
        sam_csrf = (await site.login(sam, "sam"))["csrf"]
        lea_csrf = (await site.login(lea, "lea"))["csrf"]
        site.clock.set(t0 + 75)
        async with sam.get("/api/help") as r:
            [item] = (await r.json())["help"]
            assert item["waiting_s"] == 75
        async with sam.post("/api/help/h1/take", headers={"X-CSRF-Token": sam_csrf}) as r:
            assert r.status == 200
            body = await r.json()
            assert body["answer_s"] == 75
            assert body["station_told"] is False  # PC-04 is offline; the record is kept anyway
        async with lea.post("/api/help/h1/take", headers={"X-CSRF-Token": lea_csrf}) as r:
            assert r.status == 409
            assert (await r.json())["taken_by"] == "sam"
        site.clock.set(t0 + 200)
        async with lea.post("/api/help/h1/done", headers={"X-CSRF-Token": lea_csrf}) as r:
            assert r.status == 200
        async with lea.get("/api/help") as r:
            assert (await r.json())["help"] == []
        async with lea.post("/api/help/h1/done", headers={"X-CSRF-Token": lea_csrf}) as r:
            assert r.status == 409
    assert _rows(site.db, "SELECT taken - requested, taken_by, done - requested FROM help_requests") == [(75.0, "sam", 200.0)]


async def test_a_steward_dismisses_a_stations_escapes_with_the_csrf_token(site: Site) -> None:
    from espace import protocol as p

    floor = site.app[keys.FLOOR]
    for seq in (1, 2):
        floor.event("PC-02", p.EscapeAttempt(id=f"x{seq}", seq=seq, at=site.clock.now(), what="focus_lost", action="refocused"))
    async with site.client() as http:
        bob = await site.login(http, "bob")
        async with http.post("/api/stations/PC-02/dismiss-escape", headers={"X-CSRF-Token": bob["csrf"]}) as r:
            assert r.status == 403  # the back office watches, it does not act
    async with site.client() as http:
        me = await site.login(http, "sam")
        async with http.post("/api/stations/PC-02/dismiss-escape") as r:
            assert r.status == 403
            assert (await r.json())["error"] == "csrf"
        async with http.get("/api/floor") as r:
            pc2 = next(s for s in (await r.json())["stations"] if s["id"] == "PC-02")
            assert pc2["escape"]["count"] == 2  # still there: nothing was dismissed
        async with http.post("/api/stations/PC-02/dismiss-escape", headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 200
            assert await r.json() == {"ok": True, "dismissed": 2}
        async with http.get("/api/floor") as r:
            assert all(s["escape"] is None for s in (await r.json())["stations"])
        async with http.post("/api/stations/NOPE/dismiss-escape", headers={"X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 404
    rows = _rows(site.db, "SELECT actor, station, type, body FROM events WHERE type = 'staff.dismiss_escape'")
    assert rows == [("sam", "PC-02", "staff.dismiss_escape", '{"escapes": 2, "outcome": "ok"}')]
