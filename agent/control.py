"""The local channel between the agent service and the session process.

Line-delimited JSON over the platform's local transport (:mod:`agent.channel`: a Unix
socket checked by uid on Linux, a named pipe checked by account and session on Windows).
The service never sends the station token over it; a client can only do what the visitor's
screen offers (start, end, help, acknowledge) and receive what the screen must show. Only
the identities in ``allowed`` (the service's own by default) are let in.

Requests: ``{"op": "start", "lang": "fr", "ticket": null, "dry_run": false}``,
``{"op": "end"}``, ``{"op": "help"}``, ``{"op": "cancel_help"}``,
``{"op": "status"}``, ``{"op": "lang", "lang": "nl"}`` (the language the screen shows now:
a session a steward opens is recorded in it), ``{"op": "idle", "seconds": 12.5}`` (the session process's
measure of input idleness: from then on the agent reads a :class:`ReportedIdle`), and,
with fake probes only, ``{"op": "set_idle", "seconds": 700}`` and ``{"op": "print",
"pages": 2}`` for tests and the demo.
Every request gets one ``{"ok": ..., ...}`` line; UI updates arrive as
``{"ui": ...}`` lines in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from agent import channel
from agent.core import Agent
from agent.probes.base import FakeIdle, FakePrints, PrintRecord
from agent.probes.reported import ReportedIdle
from espace import protocol as p

log = logging.getLogger(__name__)
MAX_LINE = 4096


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
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(msg)

        agent.ui_listeners.append(listener)

        async def push() -> None:
            while True:
                msg = await queue.get()
                writer.write((json.dumps(msg) + "\n").encode())
                await writer.drain()

        pusher = asyncio.create_task(push())
        try:
            while line := await reader.readline():
                if len(line) > MAX_LINE:
                    break
                try:
                    req = json.loads(line)
                    answer = await _do(agent, req)
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"ok": False, "error": f"bad request: {exc}"}
                await queue.put({"reply": answer})
        finally:
            agent.ui_listeners.remove(listener)
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pusher
            writer.close()

    return await (transport or channel.transport()).serve(client, str(path), allowed)


async def _do(agent: Agent, req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    if op == "start":
        answer = await agent.start_session(
            req.get("lang", "fr"), req.get("ticket"), bool(req.get("dry_run"))
        )
        if answer is None:
            return {"ok": False, "error": "busy"}
        if isinstance(answer, p.Refuse):
            return {"ok": False, "refused": answer.reason, "until": answer.until}
        return {
            "ok": True,
            "session_id": answer.session_id,
            "end": answer.end,
            "cause": answer.cause,
            "label": answer.label,
        }
    if op == "end":
        await agent.end_by_visitor()
        return {"ok": True}
    if op == "help":
        return {"ok": True, "help_id": await agent.request_help()}
    if op == "cancel_help":
        await agent.cancel_help()
        return {"ok": True}
    if op == "status":
        s = agent.session
        return {
            "ok": True,
            "connected": agent.connected.is_set(),
            "session": s.as_dict() if s else None,
            "locked": agent.locked,
            "enrolment": agent.fingerprint if agent.token is None else None,  # the code to approve, while waiting
            "pin_problem": agent.pin_problem,  # a link refused for the pin's sake (ws://, another certificate)
            "outbox": await agent.outbox.count(),
            "last_seq": await agent.outbox.get("last_seq"),
            "prints_pending": len(agent.probes.prints.queued)
            if isinstance(agent.probes.prints, FakePrints)
            else 0,
            "now": agent.clock.now(),
            "idle_problem": getattr(agent.probes.idle, "problem", None),
        }
    if op == "lang":
        if not agent.set_screen_lang(str(req.get("lang"))):
            return {"ok": False, "error": "lang must be fr, nl or en"}
        return {"ok": True}
    if op == "idle":
        seconds = float(req["seconds"])
        if not isinstance(agent.probes.idle, ReportedIdle):
            agent.probes.idle = ReportedIdle()  # a session process is here: its measure wins
        agent.probes.idle.report(seconds)
        return {"ok": True}
    if op == "idle_problem":  # the session process has no working idle probe: a station problem
        if not isinstance(agent.probes.idle, ReportedIdle):
            agent.probes.idle = ReportedIdle()
        agent.probes.idle.report_problem(str(req.get("detail", "")))
        return {"ok": True}  # the next heartbeat carries it to the floor (agent.probes.problems)
    if op == "set_idle" and isinstance(agent.probes.idle, FakeIdle):
        agent.probes.idle.value = float(req["seconds"])
        await agent.send_heartbeat()
        return {"ok": True}
    if op == "print" and isinstance(agent.probes.prints, FakePrints):
        agent.probes.prints.add(
            PrintRecord(
                job=p.new_id()[:8],
                printer=req.get("printer", "PRN-1"),
                pages=int(req["pages"]),
                at=agent.clock.now(),
            )
        )
        return {"ok": True}
    return {"ok": False, "error": f"unknown op {op!r}"}


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
