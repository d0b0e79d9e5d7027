"""Staff accounts from the dashboard (admin): what ``espace-controller staff`` does, and a little more.

- ``GET /api/staff``: every account (login, role, language, disabled, created), never a hash;
- ``POST /api/staff``: a new account ``{login, password, role, lang}`` (201; 409 ``staff_exists``);
- ``POST /api/staff/{login}/disable`` and ``…/enable``: disabling ends the account's sessions
  at once and closes its dashboards' sockets;
- ``POST /api/staff/{login}/role`` ``{role}``: effective on the account's next request;
- ``POST /api/staff/{login}/password`` ``{password}``: a reset by an admin; the account's
  other sessions end (an admin resetting their own keeps the session they reset it from);
- ``GET /admin/staff``: the page (dashboard/static/staff.html).

An admin may neither disable nor demote their own account (409 ``self_disable``,
``self_demote``), so that the dashboard cannot leave the site without its admin by a
wrong tap. Invalid input answers 400 with the code and ``params`` of the
:class:`controller.staff.StaffError`. Each change goes into the audit trail as
``staff.account_*`` with the account's login (never a password). The routes need
the ``admin`` capability (:data:`controller.web.auth.ROUTE_CAPABILITIES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from controller import staff
from controller.web import keys
from controller.web.actions import audit
from controller.web.auth import AUTH, STATIC, current, json_error
from controller.web.body import BadBody, read_json


async def staff_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "staff.html")


async def _fields(request: web.Request, required: tuple[str, ...], optional: dict[str, str] | None = None) -> dict[str, str] | web.Response:
    """The body's string fields, or the 400 answer (``bad_body`` when it is not an object of strings)."""
    try:
        body = await read_json(request)
    except BadBody as exc:
        return json_error(400, "bad_body", str(exc))
    if not isinstance(body, dict):
        return json_error(400, "bad_body", "the body must be a JSON object")
    out = dict(optional or {})
    for name in (*required, *(optional or {})):
        value = body.get(name, out.get(name))
        if not isinstance(value, str):
            return json_error(400, "bad_body", f"{name}: a string is required", params={"field": name})
        out[name] = value
    return out


def _refused(exc: staff.StaffError) -> web.Response:
    status = 409 if exc.code == "staff_exists" else 400
    return json_error(status, exc.code, str(exc), params=exc.params)


def _no_staff(login: str) -> web.Response:
    return json_error(404, "no_staff", f"no staff account {login}", params={"login": login})


async def _answer(request: web.Request, login: str, type_: str, body: dict[str, Any]) -> web.Response:
    await audit(request, type_, None, {"login": login, **body})
    account = await request.app[keys.STORE].read(lambda db: staff.get_staff(db, login))
    assert account is not None  # accounts are never deleted
    return web.json_response({"ok": True, "staff": account.as_dict()})


async def list_accounts(request: web.Request) -> web.Response:
    rows = await request.app[keys.STORE].read(staff.list_staff)
    return web.json_response({"staff": [s.as_dict() for s in rows]})


async def create(request: web.Request) -> web.Response:
    fields = await _fields(request, ("login", "password", "role"), {"lang": "fr"})
    if isinstance(fields, web.Response):
        return fields
    login, now = fields["login"], request.app[keys.CLOCK].now()
    try:
        added = await request.app[keys.STORE].write(
            lambda db: staff.add_staff(db, login, fields["password"], fields["role"], fields["lang"], now)
        )
    except staff.StaffError as exc:
        return _refused(exc)
    await audit(request, "staff.account_added", None, {"login": login, "role": added.role, "lang": added.lang})
    return web.json_response({"ok": True, "staff": added.as_dict()}, status=201)


async def _write(request: web.Request, login: str, write: Callable[[Any], Any]) -> Any:
    """Run ``write`` in the store; a refusal (StaffError) or "no such account" (None or False) comes back
    as the API's answer, a ``web.Response``; anything else is the write's result."""
    try:
        result = await request.app[keys.STORE].write(write)
    except staff.StaffError as exc:
        return _refused(exc)
    return _no_staff(login) if result is None or result is False else result


async def _change(request: web.Request, type_: str, change: Callable[[Any], bool], body: dict[str, Any]) -> web.Response:
    login = request.match_info["login"]
    found = await _write(request, login, change)
    if isinstance(found, web.Response):
        return found
    return await _answer(request, login, type_, body)


async def disable(request: web.Request) -> web.Response:
    login = request.match_info["login"]
    if login == current(request).login:
        return json_error(409, "self_disable", "you cannot disable your own account", params={"login": login})

    def write(db: Any) -> list[str] | None:
        digests = staff.session_digests(db, login)
        return digests if staff.disable_staff(db, login) else None

    ended = await request.app[keys.STORE].write(write)
    if ended is None:
        return _no_staff(login)
    for digest in ended:  # its pages get 401 at once, its live feeds close
        await request.app[AUTH].forget(digest)
    return await _answer(request, login, "staff.account_disabled", {"sessions_ended": len(ended)})


async def enable(request: web.Request) -> web.Response:
    login = request.match_info["login"]
    return await _change(request, "staff.account_enabled", lambda db: staff.enable_staff(db, login), {})


async def set_role(request: web.Request) -> web.Response:
    login = request.match_info["login"]
    fields = await _fields(request, ("role",))
    if isinstance(fields, web.Response):
        return fields
    role = fields["role"]
    if login == current(request).login and role in staff.ROLES and not staff.allowed(role, "admin"):
        return json_error(409, "self_demote", "you cannot take the admin role from your own account", params={"login": login})

    def write(db: Any) -> list[str] | None:
        return staff.session_digests(db, login) if staff.set_role(db, login, role) else None

    live = await _write(request, login, write)
    if isinstance(live, web.Response):
        return live
    for digest in live:  # re-read with the new role on their next request
        request.app[AUTH].refresh(digest)
    return await _answer(request, login, "staff.account_role", {"role": role})


async def reset_password(request: web.Request) -> web.Response:
    login = request.match_info["login"]
    fields = await _fields(request, ("password",))
    if isinstance(fields, web.Response):
        return fields
    session = current(request)
    keep = session.token_hash if login == session.login else None

    def write(db: Any) -> list[str] | None:
        others = [d for d in staff.session_digests(db, login) if d != keep]
        return others if staff.set_password(db, login, fields["password"], keep) else None

    ended = await _write(request, login, write)
    if isinstance(ended, web.Response):
        return ended
    for digest in ended:  # whoever knew the old password is out
        await request.app[AUTH].forget(digest)
    return await _answer(request, login, "staff.account_password", {"sessions_ended": len(ended)})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/staff", staff_page)
    r.add_get("/api/staff", list_accounts)
    r.add_post("/api/staff", create)
    r.add_post("/api/staff/{login}/disable", disable)
    r.add_post("/api/staff/{login}/enable", enable)
    r.add_post("/api/staff/{login}/role", set_role)
    r.add_post("/api/staff/{login}/password", reset_password)
