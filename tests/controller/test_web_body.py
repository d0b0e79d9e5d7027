"""Bodies that are not what a route takes get a 400 (or 403 for the CSRF form), never a 500.

Each case is one the OpenAPI fuzz (``test_openapi_fuzz.py``) or its review found
answering 500 before ``controller/web/body.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from controller import staff
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from controller.web.body import BadBody, parse_json
from espace.clock import ManualClock, parse_instant
from tests.support.served import served

PASSWORD = "correct horse battery"
DEEP = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's recursion limit, well under 1 MiB
JSON_ROUTES = [
    "/api/bookings", "/api/queue/tickets", "/api/me/lang", "/login",
    "/api/stations/PC-01/extend", "/api/stations/PC-01/end", "/api/stations/PC-01/message",
    "/api/stations/PC-01/lock", "/api/stations/PC-01/unlock",
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "charset"),
    [
        (DEEP, None),
        (b'{"start": NaN}', None),
        (b'{"start": Infinity}', None),
        (b'{"start": -Infinity}', None),
        (b'{"start": 1e999}', None),
        (b'{"label": "\xff"}', None),
        (b"{}", "no-such-charset"),
        (b"{", None),
    ],
)
def test_what_python_would_choke_on_or_let_through_is_a_bad_body(
    raw: bytes, charset: str | None
) -> None:
    with pytest.raises(BadBody):
        parse_json(raw, charset)


def test_json_is_still_json() -> None:
    assert parse_json(b'{"start": 1.5e9, "n": [1, 2], "s": "\xc3\xa9"}') == {
        "start": 1.5e9,
        "n": [1, 2],
        "s": "é",
    }
    assert parse_json('{"s": "é"}'.encode("latin-1"), "latin-1") == {"s": "é"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    clock = ManualClock(parse_instant("2026-11-19T10:00"))
    async with served(create_app(make_settings(database=str(tmp_path / "db")), clock)) as s:
        await s.app[keys.STORE].write(
            lambda db: staff.add_staff(db, "ada", PASSWORD, "admin", "fr", clock.now())
        )
        async with aiohttp.ClientSession(
            s.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:
            async with session.post("/login", json={"login": "ada", "password": PASSWORD}) as r:
                assert r.status == 200
                session.headers["X-CSRF-Token"] = (await r.json())["me"]["csrf"]
            yield session


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (DEEP, "application/json"),
        (b"{}", "application/json; charset=no-such-charset"),
        (
            b'{"start": NaN, "end": Infinity, "stations": ["PC-01"], "reason": "x", "lang": "nl"}',
            "application/json",
        ),
    ],
    ids=["deep", "charset", "nan"],
)
async def test_every_json_route_answers_400_to_a_body_it_cannot_read(
    http: aiohttp.ClientSession, path: str, raw: bytes, content_type: str
) -> None:
    async with http.post(path, data=raw, headers={"Content-Type": content_type}) as r:
        assert r.status == 400, await r.text()
        assert (await r.json())["error"] in ("bad_json", "bad_lang", "bad_body")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"login=ada&password=x", "multipart/form-data"),  # no boundary
        (
            b"--x\r\nContent-Disposition: form-data\r\n\r\nada\r\n",
            "multipart/form-data; boundary=x",
        ),
        (b"login=ada&password=x", "application/x-www-form-urlencoded; charset=no-such-charset"),
    ],
    ids=["no-boundary", "broken-part", "charset"],
)
async def test_forms_that_cannot_be_read(
    http: aiohttp.ClientSession, raw: bytes, content_type: str
) -> None:
    async with http.post("/login", data=raw, headers={"Content-Type": content_type}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "bad_body")
    del http.headers["X-CSRF-Token"]  # the CSRF token would then come from the unreadable form
    async with http.post(
        "/api/stations/PC-01/lock", data=raw, headers={"Content-Type": content_type}
    ) as r:
        assert (r.status, (await r.json())["error"]) == (403, "csrf")
