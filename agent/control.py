"""The local channel between the agent service and the session process.

Line-delimited JSON over the platform's local transport (:mod:`agent.channel`: a Unix
socket checked by uid on Linux, a named pipe checked by account and session on Windows).
The service never sends the station token over it; a client can only do what the visitor's
screen offers (start, end, help, acknowledge) and receive what the screen must show. Only
the identities in ``allowed`` (the service's own by default) are let in.

Requests: ``{"op": "start", "lang": "fr", "ticket": null, "dry_run": false}``,
``{"op": "end"}``, ``{"op": "help"}``, ``{"op": "cancel_help"}``,
``{"op": "status"}``, ``{"op": "screen", "state": "lock"}`` (this connection is the station's
screen, showing the lock screen or the session panel: :mod:`agent.screenwatch` watches it),
``{"op": "escape", "what": "focus_lost"}`` (or ``grab_failed``: an ``escape_attempt`` event), ``{"op": "lang", "lang": "nl"}`` (the language the screen shows now:
a session a steward opens is recorded in it), ``{"op": "idle", "seconds": 12.5}`` (the session process's
measure of input idleness: from then on the agent reads a :class:`ReportedIdle`), and,
with fake probes only, ``{"op": "set_idle", "seconds": 700}`` and ``{"op": "print",
"pages": 2}`` for tests and the demo.
Every request gets one ``{"ok": ..., ...}`` line; UI updates arrive as
``{"ui": ...}`` lines in between.

The channel admits the visitor: every request is checked against the
types below (and what it builds against the wire protocol's) before anything
is done with it, and refused with ``{"ok": false, "error": "bad request: ..."}``.
Instants given to the client (``end``, ``now``) are on the station's own clock,
the one the session screen reads; the agent enforces them on the controller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from agent import channel
from agent.core import Agent
from agent.probes.base import FakeIdle, FakePrints, PrintRecord
from agent.probes.reported import ReportedIdle
from espace import protocol as p

log = logging.getLogger(__name__)
MAX_LINE = 4096


class _Op(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    pass


class Start(_Op, tag="start"):
    lang: p.Lang = "fr"
    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=12, pattern=r"^[A-Za-z0-9 -]+$")] | None = None
    dry_run: bool = False


class End(_Op, tag="end"):
    pass


class Help(_Op, tag="help"):
    pass


class CancelHelp(_Op, tag="cancel_help"):
    pass


class Status(_Op, tag="status"):
    pass


Seconds = Annotated[float, msgspec.Meta(ge=0, le=10 * 365 * 86400)]


class Idle(_Op, tag="idle"):
    seconds: Seconds


class IdleProblem(_Op, tag="idle_problem"):
    detail: p.ShortText = ""


class SetIdle(_Op, tag="set_idle"):
    seconds: Seconds


class Print(_Op, tag="print"):
    pages: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    printer: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] = "PRN-1"


class ScreenLang(_Op, tag="lang"):
    """The language the visitor chose on the screen (a session a steward opens is recorded in it)."""

    lang: p.Lang


class Screen(_Op, tag="screen"):
    """The session UI is the station's screen, showing the lock screen or the session panel."""

    state: Literal["lock", "session"]


class Escape(_Op, tag="escape"):
    """The screen saw a way around it: another program took the focus, or it cannot hold the keyboard."""

    what: Literal["focus_lost", "grab_failed"]


Request = Screen | Escape | Start | End | Help | CancelHelp | Status | Idle | IdleProblem | SetIdle | Print | ScreenLang
_decoder = msgspec.json.Decoder(Request)


def parse_request(line: bytes) -> Request:
    """A request line, checked; :class:`ValueError` says what is wrong with it."""
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None


async def serve_control(
    agent: Agent,
    path: str | Path,
    allowed: set[channel.Identity] | None = None,
    *,
    transport: channel.Transport | None = None,
) -> channel.ChannelServer:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=200)

        def listener(msg: dict[str, Any]) -> None:
            if isinstance(msg.get("end"), float | int):
                msg = {**msg, "end": _local(agent, msg["end"])}
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(msg)

        agent.ui_listeners.append(listener)

        async def push() -> None:
            while True:
                msg = await queue.get()
                writer.write((json.dumps(msg) + "\n").encode())
                await writer.drain()

        pusher = asyncio.create_task(push())
        conn = object()  # this connection, for the screen watch
        try:
            while line := await reader.readline():
                if len(line) > MAX_LINE:
                    break
                try:
                    req = parse_request(line)
                    if isinstance(req, Screen):
                        answer = _screen(agent, conn, req, writer)
                    else:
                        answer = await _do(agent, req)
                except (ValueError, KeyError, TypeError) as exc:  # ProtocolError included
                    answer = {"ok": False, "error": f"bad request: {exc}"[:300]}
                except Exception:  # the channel outlives a failed request
                    log.exception("control: a request failed")
                    answer = {"ok": False, "error": "internal error"}
                await queue.put({"reply": answer})
        finally:
            if agent.screen_watch is not None:
                try:
                    await agent.screen_watch.connection_closed(conn)
                except Exception:
                    log.exception("control: the screen watch failed on a closed connection")
            agent.ui_listeners.remove(listener)
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pusher
            writer.close()

    return await (transport or channel.transport()).serve(client, str(path), allowed)


def _screen(agent: Agent, conn: object, req: Screen, writer: asyncio.StreamWriter) -> dict[str, Any]:
    """This connection is the station's screen: the watch remembers it and who it is."""
    if agent.screen_watch is not None:
        agent.screen_watch.screen_said(conn, req.state, _peer(writer))
    return {"ok": True}


def _peer(writer: asyncio.StreamWriter) -> dict[str, Any]:
    """The peer's uid and pid where the channel tells them (a Unix socket's SO_PEERCRED)."""
    if sys.platform == "win32":
        return {}
    from agent.channel.unix import peer_credentials

    creds = peer_credentials(writer)
    return {} if creds is None else {"pid": creds[0], "uid": creds[1]}


def _local(agent: Agent, instant: float) -> float:
    """An instant of the controller's timeline on the station's own clock (the session screen's)."""
    return instant - agent.clock.offset


def _held_until(agent: Agent) -> float | None:
    """The end of the hold (a called queue ticket) in the station's cached rules, if one runs now."""
    now = agent.clock.now()
    ends = [h.end for h in (agent.rules.holds if agent.rules else []) if h.start <= now < h.end]
    return _local(agent, max(ends)) if ends else None


async def _do(agent: Agent, req: Request) -> dict[str, Any]:
    if isinstance(req, Start):
        answer = await agent.start_session(req.lang, req.ticket, req.dry_run)
        if answer is None:
            return {"ok": False, "error": "busy"}
        if isinstance(answer, p.Refuse):
            return {"ok": False, "refused": answer.reason, "until": None if answer.until is None else _local(agent, answer.until)}
        return {
            "ok": True,
            "session_id": answer.session_id,
            "end": _local(agent, answer.end),
            "cause": answer.cause,
            "label": answer.label,
        }
    if isinstance(req, End):
        await agent.end_by_visitor()
        return {"ok": True}
    if isinstance(req, Help):
        if agent.session is not None and agent.session.help_id is None and agent.help_limited():
            return {"ok": False, "error": "help_rate_limited"}
        return {"ok": True, "help_id": await agent.request_help()}
    if isinstance(req, CancelHelp):
        await agent.cancel_help()
        return {"ok": True}
    if isinstance(req, Status):
        s = agent.session
        session = s.as_dict() if s else None
        if session is not None:
            session["start"], session["end"] = _local(agent, s.start), _local(agent, s.end)  # type: ignore[union-attr]
        return {
            "ok": True,
            "connected": agent.connected.is_set(),
            "session": session,
            "locked": agent.locked,
            "enrolment": agent.fingerprint if agent.token is None else None,  # the code to approve, while waiting
            "pin_problem": agent.pin_problem,  # a link refused for the pin's sake (ws://, another certificate)
            "outbox": await agent.outbox.count(),
            "last_seq": await agent.outbox.get("last_seq"),
            "prints_pending": len(agent.probes.prints.queued)
            if isinstance(agent.probes.prints, FakePrints)
            else 0,
            "now": agent.clock.local_now(),
            "idle_problem": getattr(agent.probes.idle, "problem", None),
            "problems": sorted(agent.problems),
            "held_until": _held_until(agent),
            "unwritten": len(agent._unwritten),
        }
    if isinstance(req, Escape):
        recorded = await agent.escape_from_screen(req.what)
        return {"ok": True, "recorded": recorded}
    if isinstance(req, ScreenLang):
        agent.set_screen_lang(req.lang)
        return {"ok": True}
    if isinstance(req, Idle):
        if not isinstance(agent.probes.idle, ReportedIdle):
            agent.probes.idle = ReportedIdle()  # a session process is here: its measure wins
        agent.probes.idle.report(req.seconds)
        return {"ok": True}
    if isinstance(req, IdleProblem):  # the session process has no working idle probe: a station problem
        if not isinstance(agent.probes.idle, ReportedIdle):
            agent.probes.idle = ReportedIdle()
        agent.probes.idle.report_problem(req.detail)
        return {"ok": True}  # the next heartbeat carries it to the floor (agent.probes.problems)
    if isinstance(req, SetIdle) and isinstance(agent.probes.idle, FakeIdle):
        agent.probes.idle.value = req.seconds
        await agent.send_heartbeat()
        return {"ok": True}
    if isinstance(req, Print) and isinstance(agent.probes.prints, FakePrints):
        agent.probes.prints.add(PrintRecord(job=p.new_id()[:8], printer=req.printer, pages=req.pages, at=agent.clock.local_now()))  # a print log reads the station clock
        return {"ok": True}
    return {"ok": False, "error": f"op {type(req).__struct_config__.tag!r} is not available on this station"}


class ControlClient:
    """The session process's (and the tests') side of the channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ui: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, path: str | Path, *, transport: channel.Transport | None = None) -> ControlClient:
        reader, writer = await (transport or channel.transport()).connect(str(path))
        return cls(reader, writer)

    async def call(self, op: str, **kw: Any) -> dict[str, Any]:
        self.writer.write((json.dumps({"op": op, **kw}) + "\n").encode())
        await self.writer.drain()
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("agent closed the control channel")
            msg = json.loads(line)
            if "reply" in msg:
                return msg["reply"]
            self.ui.append(msg)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
