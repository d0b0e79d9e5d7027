"""One security-header policy for every HTML page: found by walking every route in the app's router,
so a page added tomorrow cannot miss it (issue 13). Main served /desk with no CSP, no
frame-ancestors and no no-store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.auth import STATIC, is_public
from espace.clock import ManualClock, parse_instant
from tests.support.served import serve

PASSWORD = "correct horse battery"
SAMPLE = {"station": "PC-01", "lang": "fr", "id": "nope", "code": "ABC2", "login": "ada", "filename": "x"}
PAGES = {"/login", "/floor", "/desk", "/admin/staff", "/reports", "/kiosk/PC-01", "/now-serving"}


def _paths(app: web.Application) -> list[str]:
    """Every GET path of the router, its variables filled in; every HTML file under /static/."""
    out = []
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource):
            out += [f"{resource.canonical}/{f.name}" for f in sorted(STATIC.glob("*.html"))]
            continue
        if not any(route.method in ("GET", "*") for route in resource):
            continue
        out.append(re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: SAMPLE[m.group(1)], resource.canonical))
    return out


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, web.Application, str]]:
    served = await serve(create_app(make_settings(database=str(tmp_path / "db")), ManualClock(parse_instant("2026-11-19T10:00"))))
    await served.app[keys.STORE].write(lambda db: staff.add_staff(db, "ada", PASSWORD, "admin", "fr", 0.0))
    async with aiohttp.ClientSession(served.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post("/login", json={"login": "ada", "password": PASSWORD}) as r:
            assert r.status == 200
        yield session, served.app, served.url
    await served.close()


async def test_every_html_page_of_the_router_has_the_policy(http: tuple[aiohttp.ClientSession, web.Application, str]) -> None:
    session, app, _ = http
    seen_pages = set()
    for path in _paths(app):
        async with session.get(path, allow_redirects=False) as r:
            h = r.headers
            assert h.get("X-Content-Type-Options") == "nosniff", path
            if not is_public(path):
                assert h.get("Cache-Control") == "no-store", path
            if r.content_type != "text/html":
                continue
            seen_pages.add(path)
            csp = dict(d.strip().split(" ", 1) for d in h.get("Content-Security-Policy", "").split(";") if d.strip())
            assert csp.get("frame-ancestors") == "'none'", path
            assert csp.get("script-src") in ("'self'", "'none'"), path  # no inline script, no eval
            assert csp.get("default-src") == "'self'", path
            assert csp.get("base-uri") == "'none'", path
            assert "'unsafe-inline'" not in csp.get("style-src", ""), path
            assert h.get("X-Frame-Options") == "DENY", path
            assert h.get("Referrer-Policy") == "no-referrer", path
            assert h.get("Cache-Control") in ("no-store", "no-cache"), path
    assert PAGES <= seen_pages, PAGES - seen_pages
    assert {f"/static/{f.name}" for f in STATIC.glob("*.html")} <= seen_pages


async def test_an_error_page_gets_the_policy_too(http: tuple[aiohttp.ClientSession, web.Application, str]) -> None:
    session, _, _ = http
    async with session.get("/no/such/page") as r:
        assert r.status == 404
        assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", "")


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._open_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open_script = tag == "script" and not dict(attrs).get("src")
        self.inline += [f"<{tag} {n}>" for n, _ in attrs if n.startswith("on")]
        if self._open_script:
            self.inline.append(f"<{tag}> without src")


@pytest.mark.parametrize("page", sorted(p.name for p in STATIC.glob("*.html")))
def test_no_page_has_inline_script(page: str) -> None:
    parser = _Scripts()
    parser.feed((STATIC / page).read_text("utf-8"))
    assert parser.inline == []
