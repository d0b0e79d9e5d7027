"""Staff authentication for every route: the middleware, login, logout, ``/api/me``.

Every route needs a staff session except the public ones (:data:`PUBLIC_EXACT`,
:data:`PUBLIC_PREFIXES`): the agents' socket, health and metrics, the kiosk,
the "now serving" page, the catalogs and ``/api/public/``. A route nobody
listed is protected by default. Without a session, JSON and WebSocket routes
answer 401 JSON and pages redirect to ``/login``; with the wrong role, 403.
Every POST/PUT/PATCH/DELETE also needs the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf``). :func:`required_capability` maps a
route to what it needs; :func:`controller.staff.allowed` says which role has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from controller import staff
from controller.hashpool import HashPool, Overloaded
from controller.metrics import Metrics
from controller.staff import LoginThrottle, StaffSession
from controller.web import keys
from controller.web.body import BadBody, read_form, read_json
from controller.web.errors import json_error
from espace import protocol as p

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
COOKIE = "espace_staff"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RECHECK_S = 15.0  # a cached session is re-read from the store this often (real seconds)
OVERLOAD_LOG_S = 10.0  # refusals for overload are logged as a count this often (real seconds)
WATCH_S = 0.5  # sessions with a live socket or in the cache are checked against the store this often

PUBLIC_EXACT = frozenset({"/login", "/healthz", "/metrics", "/ws/agent", "/now-serving", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/", "/kiosk/", "/kiosk", "/now-serving/", "/now-serving.", "/i18n/", "/api/public/")

# (method or "*", path prefix, capability); the first match wins; the default is floor.view.
ROUTE_CAPABILITIES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/api/stations/", "floor.act"),  # approve/revoke are refined below
    ("POST", "/api/help/", "floor.act"),
    ("*", "/api/enrolments", "admin"),
    ("*", "/api/staff", "admin"),
    ("*", "/api/quarantine", "admin"),
    ("*", "/admin", "admin"),
    ("*", "/reports", "reports"),
    ("*", "/api/reports", "reports"),
    ("*", "/exports", "reports"),
    ("*", "/api/exports", "reports"),
)
ADMIN_STATION_ACTIONS = ("/approve", "/revoke")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


def required_capability(method: str, path: str) -> str:
    if method == "POST" and path.startswith("/api/stations/") and path.endswith(ADMIN_STATION_ACTIONS):
        return "admin"
    for m, prefix, cap in ROUTE_CAPABILITIES:
        if (m == "*" or m == method) and path.startswith(prefix):
            return cap
    return "floor.view"


def wants_json(path: str) -> bool:
    return path.startswith(("/api/", "/ws/"))


@dataclass(slots=True)
class Auth:
    """Sessions cached in memory in front of the store, the throttle, and live sockets per session.

    Staff sessions and the login throttle run on real time (``wall``), not on the
    site's clock: a demo or a test floor on an accelerated clock must not log its
    stewards out after half an hour, nor shorten a lock-out.
    """

    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    hashes: HashPool = field(default_factory=HashPool)
    _shed: int = 0
    _shed_logged: float = -1e9  # monotonic time of the last overload report
    wall: Callable[[], float] = time.time
    cache: dict[str, tuple[StaffSession, float]] = field(default_factory=dict)
    sockets: dict[str, set[web.WebSocketResponse]] = field(default_factory=dict)

    async def session(self, app: web.Application, token: str | None) -> StaffSession | None:
        if not token or len(token) > 100:
            return None
        digest = staff.token_digest(token)
        now = self.wall()
        hit = self.cache.get(digest)
        if hit is not None and time.monotonic() - hit[1] < RECHECK_S:
            return hit[0] if hit[0].expires > now else None
        found = await app[keys.STORE].read(lambda db: staff.load_session(db, digest, now))
        if found is None:
            self.cache.pop(digest, None)
            await self.close_sockets(digest)
            return None
        self.cache[digest] = (found, time.monotonic())
        return found

    def refresh(self, digest: str) -> None:
        """Re-read this session from the store on its next request (its account changed)."""
        self.cache.pop(digest, None)

    async def forget(self, digest: str) -> None:
        self.cache.pop(digest, None)
        await self.close_sockets(digest)

    async def close_sockets(self, digest: str) -> None:
        for ws in list(self.sockets.pop(digest, ())):
            await ws.close(code=p.CloseCode.UNAUTHORISED, message=b"logged out")

    def overloaded(self, metrics: Metrics, ip: str) -> web.Response:
        """503 at once; logged as a count every :data:`OVERLOAD_LOG_S` (a flood must not also flood the log)."""
        metrics.inc("staff_login_overloaded")
        self._shed += 1
        now = time.monotonic()
        if now - self._shed_logged >= OVERLOAD_LOG_S:
            log.warning("staff logins refused (too many password checks waiting): %d since the last report, the last from client=%s",
                        self._shed, ip)  # fmt: skip
            self._shed, self._shed_logged = 0, now
        return _refused("login_overloaded", 1)

    async def drop_ended(self, app: web.Application) -> int:
        """Forget the watched sessions the store no longer has (ended, or their account disabled).

        ``espace-controller staff disable`` runs in another process: it ends the sessions in the
        store, and this (every :data:`WATCH_S`) closes their sockets and empties their cache.
        """
        watched = set(self.sockets) | set(self.cache)
        if not watched:
            return 0
        now = self.wall()
        alive = await app[keys.STORE].read(lambda db: staff.live_sessions(db, watched, now))
        gone = watched - alive
        for digest in gone:
            await self.forget(digest)
        return len(gone)


AUTH = keys.AUTH  # declared in keys.py; this name is kept for the modules that import it from here
SESSION_KEY = web.RequestKey("staff_session", StaffSession)


def current(request: web.Request) -> StaffSession:
    """The request's staff session (the middleware guarantees one on protected routes)."""
    return request[SESSION_KEY]


async def _csrf_ok(request: web.Request, session: StaffSession) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await read_form(request)  # cached by aiohttp: the handler can read it again
        except BadBody:
            return False
        value = form.get("csrf", "")
        sent = value if isinstance(value, str) else ""
    return bool(sent) and secrets.compare_digest(sent, session.csrf)


def _same_origin(request: web.Request) -> bool:
    """No ``Origin`` (a navigation, a non-browser client) or exactly this origin: scheme and host.

    ``Origin: null`` (a sandboxed frame, a ``data:`` page, a redirect from elsewhere) is never ours.
    Behind a trusted proxy the scheme is the one it says (:mod:`controller.web.forwarded`) and the
    host the one it passes on (``proxy_set_header Host $http_host``).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:  # "http://[": not a URL, so not ours
        return False
    return parts.scheme == request.scheme and parts.netloc == request.host


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if is_public(path):
        return await handler(request)
    auth = request.app[AUTH]
    session = await auth.session(request.app, request.cookies.get(COOKIE))
    if session is None:
        if wants_json(path) or request.method != "GET":
            return json_error(401, "login_required", "log in first")
        target = path if request.method == "GET" and path not in ("/", "/live") else "/floor"
        raise web.HTTPFound(f"/login?next={quote(target)}")
    if not _same_origin(request):
        return json_error(403, "cross_origin", "request from another origin")
    cap = required_capability(request.method, path)
    if not staff.allowed(session.role, cap):
        return json_error(
            403, "forbidden", f"your role ({session.role}) may not do this ({cap})",
            params={"role": session.role, "capability": cap},
        )  # fmt: skip
    if request.method in UNSAFE and not await _csrf_ok(request, session):
        return json_error(403, "csrf", "missing or wrong CSRF token")
    request[SESSION_KEY] = session
    return await handler(request)


# ---------------------------------------------------------------- routes


async def login_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "login.html")


async def _credentials(request: web.Request) -> tuple[str, str, str]:
    """Login, password and next from a JSON object or a form; BadBody when the body cannot be read."""
    if request.content_type == "application/json":
        body = await read_json(request)
        if not isinstance(body, dict):
            body = {}
    else:
        body = dict(await read_form(request))
    login, password, nxt = body.get("login", ""), body.get("password", ""), body.get("next", "")
    if not all(isinstance(v, str) for v in (login, password, nxt)):
        return "", "", ""
    return login.strip().lower()[:64], password[:1024], nxt


# an absolute path on this site: no "//" or "/\" (another host to a browser), no control character
# (a browser drops tabs and newlines, "/\t/evil" is "//evil"), nothing but printable ASCII
_NEXT_RE = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")


def _safe_next(nxt: str) -> str:
    """``nxt`` when it is a same-origin absolute path to a staff page; else ``/floor``."""
    if not _NEXT_RE.fullmatch(nxt) or is_public(nxt.split("?")[0]):
        return "/floor"
    parts = urlsplit(nxt)
    return nxt if not parts.scheme and not parts.netloc else "/floor"


def _refused(code: str, wait: float) -> web.Response:
    seconds = max(1, math.ceil(wait))
    if code == "throttled":
        body = {"error": "throttled", "message": "too many failed attempts; wait", "retry_after": seconds, "params": {"seconds": seconds}}
        return web.json_response(body, status=429, headers={"Retry-After": str(seconds)})
    if code == "login_busy":
        return web.json_response(
            {"error": "login_busy", "message": "another login for this account or from this address is being checked; try again"},
            status=429, headers={"Retry-After": str(seconds)},
        )  # fmt: skip
    return web.json_response(
        {"error": "login_overloaded", "message": "too many logins at once; try again in a moment"},
        status=503, headers={"Retry-After": str(seconds)},
    )  # fmt: skip


async def login_post(request: web.Request) -> web.Response:
    """Check a login: counted before argon2 runs, argon2 on its own bounded pool (:mod:`controller.hashpool`)."""
    if not _same_origin(request):
        return json_error(403, "cross_origin", "request from another origin")
    app = request.app
    auth, metrics = app[AUTH], app[keys.METRICS]
    ip = request.remote or "?"
    if auth.hashes.full:  # shed a flood before even reading its bodies
        return auth.overloaded(metrics, ip)
    try:
        login, password, nxt = await _credentials(request)
    except BadBody as exc:
        return json_error(400, "bad_body", str(exc))
    now = auth.wall()
    try:
        auth.hashes.reserve()
    except Overloaded:
        return auth.overloaded(metrics, ip)
    try:
        try:
            auth.throttle.begin(login, ip, now)
        except staff.Refused as exc:
            metrics.inc(f"staff_login_{exc.code}")
            log.warning("staff login refused (%s, %.0f s): login=%r client=%s", exc.code, exc.wait, login, ip)
            return _refused(exc.code, exc.wait)
        ok = False
        try:
            stored, who = await app[keys.STORE].read(lambda db: staff.password_row(db, login))
            ok = await auth.hashes.run(lambda: staff.password_matches(stored, password)) and who is not None
        finally:
            auth.throttle.end(login, ip, ok)
    finally:
        auth.hashes.release()
    if not ok or who is None:
        metrics.inc("staff_login_failed")
        log.warning("staff login failed: login=%r client=%s", login, ip)
        return json_error(401, "bad_credentials", "wrong login or password")
    metrics.inc("staff_login_ok")
    log.info("staff login: login=%r client=%s", login, ip)
    await app[keys.STORE].write(lambda db: staff.rehash_if_needed(db, login, password))
    token, session = await app[keys.STORE].write(lambda db: staff.create_session(db, who, now))
    resp = web.json_response({"ok": True, "next": _safe_next(nxt), "me": _me(session)})
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/")
    return resp


async def logout(request: web.Request) -> web.Response:
    session = current(request)
    await request.app[keys.STORE].write(lambda db: staff.delete_session(db, session.token_hash))
    await request.app[AUTH].forget(session.token_hash)
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


def _me(session: StaffSession) -> dict[str, object]:
    return {
        "login": session.login,
        "role": session.role,
        "lang": session.lang,
        "csrf": session.csrf,
        "capabilities": sorted(staff.CAPABILITIES.get(session.role, ())),
    }


async def me(request: web.Request) -> web.Response:
    return web.json_response(_me(current(request)))


async def set_lang(request: web.Request) -> web.Response:
    session = current(request)
    try:
        body = await read_json(request)
    except BadBody:
        body = None
    lang = body.get("lang") if isinstance(body, dict) else None
    if lang not in staff.LANGS:
        return json_error(400, "bad_lang", "lang must be fr, nl or en")
    await request.app[keys.STORE].write(
        lambda db: db.execute("UPDATE staff SET lang = ? WHERE login = ?", [lang, session.login])
    )
    # re-read with the new language on the next request; the session stays, and so do its live sockets
    request.app[AUTH].refresh(session.token_hash)
    return web.json_response({"ok": True, "lang": lang})


def setup(app: web.Application) -> None:
    """The staff middlewares, login routes and session watch (``create_app`` sets ``app[keys.AUTH]``)."""
    app.cleanup_ctx.append(_sessions_table_ctx)
    app.middlewares.append(auth_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/me/lang", set_lang)


async def _sessions_table_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    # runs after the store is open (cleanup contexts start in order; create_app adds the store's first)
    auth = app[AUTH]

    async def watch() -> None:
        while True:
            await asyncio.sleep(WATCH_S)  # transport cadence on real time, not policy
            try:
                await auth.drop_ended(app)
            except Exception as exc:  # noqa: BLE001 - a failed read is tried again next time
                log.warning("staff session watch: %s", exc)

    task = asyncio.create_task(watch(), name="staff-session-watch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    auth.hashes.close()
