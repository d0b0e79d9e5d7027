"""The staff login under attack, as a script on the public LAN would run it (issue 13).

A burst of concurrent guesses against a real controller process; the throttle per
(login, client) behind a trusted proxy; argon2's own bounded pool; the Secure cookie
and the origin checks when the proxy says https; open redirects after login;
``Origin: null``; an account disabled from the command line losing its live feed;
failed logins in the log and in /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.auth import AUTH, _safe_next
from espace.clock import ManualClock, SystemClock, parse_instant
from tests.support.browser import add_staff
from tests.support.procs import ROOT, ControllerProc, _env
from tests.support.served import Served, serve

PASSWORD = "correct horse battery"


async def _post_login(http: aiohttp.ClientSession, url: str, login: str, password: str, **headers: str) -> tuple[int, str]:
    async with http.post(url + "/login", json={"login": login, "password": password}, headers=headers) as r:
        body = await r.json()
        return r.status, body.get("error", "ok")


async def test_a_hundred_concurrent_guesses_get_no_more_than_the_free_tries(tmp_path: Path) -> None:
    """The race of main: 100 concurrent POST /login all passed the throttle before any failure was counted."""
    ctl = ControllerProc(tmp_path, SystemClock())
    await add_staff(ctl.db, ("sam", PASSWORD, "steward", "fr"))
    ctl.start()
    try:
        outcomes: Counter[tuple[int, str]] = Counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:
            for _wave in range(20):  # waves of 100 until the pair is made to wait
                wave = await asyncio.gather(*(_post_login(http, ctl.url, "sam", f"guess-{i}") for i in range(100)))
                outcomes.update(wave)
                if (429, "throttled") in wave:
                    break
            checked = outcomes[401, "bad_credentials"]
            assert 1 <= checked <= staff.FREE_FAILURES, outcomes
            assert set(outcomes) <= {(401, "bad_credentials"), (429, "throttled"), (429, "login_busy")}, outcomes
            # the right password now waits like any other guess from this client
            assert await _post_login(http, ctl.url, "sam", PASSWORD) == (429, "throttled")
        metrics = ctl._urlopen("/metrics").read().decode()
        assert f"espace_staff_login_failed {checked}" in metrics
        assert "espace_staff_login_throttled " in metrics
        log = ctl.log.read_text()
        assert "staff login failed: login='sam' client=127.0.0.1" in log
        assert "guess-" not in log
        assert PASSWORD not in log
    finally:
        ctl.kill()


class Proxied:
    """The controller in-process, behind a "proxy" at 127.0.0.1 (trusted or not) that says who the client is."""

    def __init__(self, served: Served) -> None:
        self.served, self.url, self.app = served, served.url, served.app

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, http: aiohttp.ClientSession, login: str, password: str = PASSWORD, client: str = "10.0.0.1",
                    **headers: str) -> tuple[int, str]:  # fmt: skip
        async with http.post("/login", json={"login": login, "password": password}, headers={"X-Forwarded-For": client, **headers}) as r:
            return r.status, (await r.json()).get("error", "ok")


async def _proxied(tmp_path: Path, trusted: list[str]) -> Proxied:
    clock = ManualClock(parse_instant("2026-11-19T10:00"))
    proxies = {"trusted_proxies": trusted} if trusted else {}
    served = await serve(create_app(make_settings(database=str(tmp_path / "db.sqlite"), **proxies), clock))
    for login, role in (("sam", "steward"), ("ada", "admin")):
        await served.app[keys.STORE].write(lambda db, a=(login, role): staff.add_staff(db, a[0], PASSWORD, a[1], "fr", 0.0))
    return Proxied(served)


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Proxied]:
    p = await _proxied(tmp_path, ["127.0.0.1"])
    yield p
    await p.served.close()


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[Proxied]:
    """No proxy trusted (the default)."""
    p = await _proxied(tmp_path, [])
    yield p
    await p.served.close()


async def test_failures_slow_down_only_that_login_from_that_client(proxied: Proxied) -> None:
    """On main six wrong passwords locked the login for everyone, from every address."""
    async with proxied.client() as http:
        for _ in range(staff.FREE_FAILURES):
            assert await proxied.login(http, "sam", "wrong", client="10.0.0.66") == (401, "bad_credentials")
        assert await proxied.login(http, "sam", PASSWORD, client="10.0.0.66") == (429, "throttled")
        assert await proxied.login(http, "sam", PASSWORD, client="10.0.0.7") == (200, "ok")  # the steward's own tablet
        assert await proxied.login(http, "ada", PASSWORD, client="10.0.0.66") == (200, "ok")  # a colleague at that PC


async def test_forwarded_headers_are_believed_from_trusted_proxies_only(tmp_path: Path) -> None:
    from controller.web.forwarded import client_of, networks

    nets = networks(["127.0.0.1", "10.1.0.0/16"])
    assert client_of("127.0.0.1", ["192.0.2.9"], nets) == "192.0.2.9"
    # the left part is the client's own word: only the hop the proxy appended counts
    assert client_of("127.0.0.1", ["6.6.6.6, 192.0.2.9"], nets) == "192.0.2.9"
    assert client_of("127.0.0.1", ["192.0.2.9, 10.1.2.3"], nets) == "192.0.2.9"  # through two proxies
    assert client_of("127.0.0.1", ["nonsense"], nets) == "127.0.0.1"
    assert client_of("192.0.2.50", ["10.9.9.9"], nets) == "192.0.2.50"  # not a proxy: ignored
    untrusted = await _proxied(tmp_path, [])  # a controller trusting no proxy (the default)
    try:
        async with untrusted.client() as http:  # a guesser that makes up a new X-Forwarded-For each time
            for i in range(staff.FREE_FAILURES):
                assert await untrusted.login(http, "sam", "wrong", client=f"10.0.0.{i}") == (401, "bad_credentials")
            assert await untrusted.login(http, "sam", "wrong", client="10.0.0.99") == (429, "throttled")
            async with http.post("/login", json={"login": "ada", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}) as r:
                assert r.status == 200
                assert not r.cookies["espace_staff"]["secure"]  # https said by anyone: not believed
    finally:
        await untrusted.served.close()


async def test_behind_a_tls_proxy_the_cookie_is_secure_and_origins_are_https(proxied: Proxied) -> None:
    host = proxied.url.removeprefix("http://")
    https = {"X-Forwarded-Proto": "https"}
    async with proxied.client() as http:
        async with http.post("/login", json={"login": "sam", "password": PASSWORD}, headers={**https, "Origin": f"https://{host}"}) as r:
            assert r.status == 200, await r.text()
            assert r.cookies["espace_staff"]["secure"]
            me = (await r.json())["me"]
            https["Cookie"] = f"espace_staff={r.cookies['espace_staff'].value}"  # the client keeps a Secure cookie off http
        async with http.get("/api/floor", headers={**https, "Origin": f"https://{host}"}) as r:
            assert r.status == 200
        async with http.post("/api/me/lang", json={"lang": "nl"}, headers={**https, "Origin": f"https://{host}", "X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 200
        for origin in (f"http://{host}", "https://evil.example", "null"):
            async with http.post("/api/me/lang", json={"lang": "nl"}, headers={**https, "Origin": origin, "X-CSRF-Token": me["csrf"]}) as r:
                assert (r.status, (await r.json())["error"]) == (403, "cross_origin"), origin


async def test_password_checks_wait_on_their_own_pool_and_a_full_queue_answers_503(proxied: Proxied) -> None:
    """On main argon2 ran on the store's two readers: a login flood stalled /healthz and everything else."""
    from controller.hashpool import HashPool

    auth = proxied.app[AUTH]
    auth.hashes = HashPool(workers=1, max_waiting=0)
    gate = threading.Event()
    auth.hashes.reserve()
    blocker = asyncio.ensure_future(auth.hashes.run(lambda: gate.wait(30)))  # argon2's only thread, busy
    try:
        async with proxied.client() as http:
            async with http.post("/login", json={"login": "sam", "password": PASSWORD}) as r:
                assert r.status == 503
                assert (await r.json())["error"] == "login_overloaded"
                assert int(r.headers["Retry-After"]) >= 1
            async with http.get("/healthz") as r:  # the store's readers are free
                assert r.status == 200
    finally:
        gate.set()
        await blocker
        auth.hashes.release()
    async with proxied.client() as http:
        assert await proxied.login(http, "sam") == (200, "ok")
    assert "espace_staff_login_overloaded 1" in proxied.app[keys.METRICS].render({})


@pytest.mark.parametrize(
    "nxt", ["/\\evil.example/", "/\t/evil.example", "//evil.example", "/%09/x\n", "https://evil.example/", "evil", "/\x00",
            "/login", "/ désk", ""],
)  # fmt: skip
def test_next_is_only_a_same_origin_path(nxt: str) -> None:
    assert _safe_next(nxt) == "/floor"


def test_next_keeps_a_staff_page_with_its_query() -> None:
    assert _safe_next("/desk?lang=nl") == "/desk?lang=nl"
    assert _safe_next("/reports?from=2026-01-01&to=2026-12-31") == "/reports?from=2026-01-01&to=2026-12-31"


async def test_a_next_with_a_backslash_does_not_leave_the_site(plain: Proxied) -> None:
    async with plain.client() as http:
        async with http.post("/login", json={"login": "sam", "password": PASSWORD, "next": "/\\evil.example/"}) as r:
            assert (await r.json())["next"] == "/floor"


async def test_origin_null_is_refused_for_get_and_websocket(plain: Proxied) -> None:
    async with plain.client() as http:
        assert await plain.login(http, "sam") == (200, "ok")
        async with http.get("/api/floor", headers={"Origin": "null"}) as r:
            assert r.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect("/ws/floor", headers={"Origin": "null"})
        assert refused.value.status == 403


async def test_disabling_from_the_command_line_closes_the_live_feed(plain: Proxied, tmp_path: Path) -> None:
    """The CLI is another process: the controller notices by watching its sessions in the store (every 0.5 s)."""
    async with plain.client() as http:
        assert await plain.login(http, "sam") == (200, "ok")
        ws = await http.ws_connect("/ws/floor")
        assert (await ws.receive_json())["type"] == "snapshot"
        async with http.get("/api/floor") as r:
            assert r.status == 200  # the session is in the cache now
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "controller.cli", "staff", "disable", "sam", "--database", str(tmp_path / "db.sqlite")],
            capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        msg = await asyncio.wait_for(ws.receive(), 20)  # a deadline for a broken build, not a timing claim
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
        assert msg.data == 4401, msg  # "logged out"
        async with http.get("/api/floor") as r:
            assert r.status == 401  # and the cached session is gone too


async def test_failed_and_throttled_logins_are_logged_without_the_password(proxied: Proxied, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "controller.web.auth")
    async with proxied.client() as http:
        for _ in range(staff.FREE_FAILURES + 1):
            await proxied.login(http, "sam", "hunter2-not-it", client="192.0.2.44")
    assert "staff login failed: login='sam' client=192.0.2.44" in caplog.text
    assert "staff login refused (throttled" in caplog.text
    assert "client=192.0.2.44" in caplog.text
    assert "hunter2" not in caplog.text
    text = proxied.app[keys.METRICS].render({})
    assert f"espace_staff_login_failed {staff.FREE_FAILURES}" in text
    assert "espace_staff_login_throttled 1" in text
