"""The live floor: station facts, connections, commands and change feed.

Everything here runs on the event loop and does no I/O of its own besides
sending on the agents' WebSockets; the store is written by the callers.
Dashboards subscribe to a feed of :class:`StationView` changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controller.floor.state import EscapeFlag, HelpFlag, StationLive, StationView, Thresholds, view
from controller.settings import Settings
from espace import protocol as p
from espace.clock import Clock

log = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class Connection:
    station: str
    send: Sender
    close: Callable[[int, str], Awaitable[Any]]


class Floor:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.th = Thresholds(
            ending_s=max(settings.warn_minutes, default=10) * 60,
            idle_s=settings.idle_prompt_minutes * 60 / 2,
        )
        self.live: dict[str, StationLive] = {s.id: StationLive(spec=s) for s in settings.stations}
        self.conns: dict[str, Connection] = {}
        self._published: dict[str, StationView] = {}
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._pending_cmds: dict[str, asyncio.Future[p.CommandAck]] = {}
        self.listeners: list[Callable[[str, StationView, StationView | None], None]] = []

    # ---------------------------------------------------------------- views and feed

    def views(self) -> list[StationView]:
        now = self.clock.now()
        return [view(live, now, self.th) for live in self.live.values()]

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "now": self.clock.now(), "stations": [v.as_dict() for v in self.views()]}

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    def publish(self, message: dict[str, Any]) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:  # a dashboard that fell behind: skip the backlog, send it a fresh snapshot
                while not q.empty():
                    q.get_nowait()
                q.put_nowait({"type": "resync"})
                log.warning("a dashboard fell behind; it gets a fresh snapshot")

    def changed(self, station: str) -> None:
        """Recompute one station's view and publish it if it differs."""
        live = self.live.get(station)
        if live is None:
            return
        v = view(live, self.clock.now(), self.th)
        old = self._published.get(station)
        if old == v:
            return
        self._published[station] = v
        for listener in self.listeners:
            listener(station, v, old)
        self.publish({"type": "station", "now": self.clock.now(), "station": v.as_dict()})

    def tick(self) -> None:
        """Re-derive every station (time-based transitions: ending, offline)."""
        now = self.clock.now()
        for station, live in self.live.items():
            if live.escape is not None and not live.escape.shown(now):
                live.escape = None  # 30 minutes of the site clock since the last escape: off the floor
                self.changed(station)
            elif live.session is not None:  # only a running session changes state by time alone
                self.changed(station)

    # ---------------------------------------------------------------- connections

    def attach(self, conn: Connection) -> Connection | None:
        """Register a station's connection; returns the one it replaces, if any."""
        old = self.conns.get(conn.station)
        self.conns[conn.station] = conn
        live = self.live[conn.station]
        live.connected = True
        live.last_seen = self.clock.now()
        self.changed(conn.station)
        return old

    def detach(self, conn: Connection) -> None:
        if self.conns.get(conn.station) is conn:
            del self.conns[conn.station]
            self.live[conn.station].connected = False
            self.changed(conn.station)

    def seen(self, station: str) -> None:
        self.live[station].last_seen = self.clock.now()

    ACK_WITHIN_S = 5.0  # real seconds an agent has to acknowledge a command

    async def command(self, station: str, cmd: p.Command) -> p.CommandAck | None:
        """Send a command; wait (real seconds) for the agent's ack. None: offline or no answer."""
        conn = self.conns.get(station)
        if conn is None:
            return None
        fut: asyncio.Future[p.CommandAck] = asyncio.get_running_loop().create_future()
        self._pending_cmds[cmd.cmd] = fut
        try:
            async with asyncio.timeout(self.ACK_WITHIN_S):  # not wait_for: on 3.11 it can swallow a cancellation
                await conn.send(p.encode(cmd))
                return await fut
        except (TimeoutError, ConnectionError, RuntimeError):
            return None
        finally:
            self._pending_cmds.pop(cmd.cmd, None)

    def command_acked(self, ack: p.CommandAck) -> None:
        fut = self._pending_cmds.get(ack.cmd)
        if fut is not None and not fut.done():
            fut.set_result(ack)

    # ---------------------------------------------------------------- facts from agents

    def heartbeat(self, station: str, hb: p.Heartbeat) -> None:
        live = self.live[station]
        live.idle_s = hb.idle_s
        if hb.health is not None:
            live.health = hb.health
        if hb.problems is not None:  # None: an older agent that reports none
            reported = {pr.code: pr.detail for pr in hb.problems}
            for code in reported.keys() - live.reported.keys():
                log.warning("%s: station problem %s: %s", station, code, reported[code])
            for code in live.reported.keys() - reported.keys():
                log.info("%s: station problem %s is over", station, code)
            live.reported = reported
        self.changed(station)

    def set_problem(self, station: str, code: str, detail: str | None) -> None:
        """A problem the controller itself sees on a station (None: it is over); shown on the floor."""
        live = self.live.get(station)
        if live is None:
            return
        if detail is None:
            if live.problems.pop(code, None) is None:
                return
        elif live.problems.get(code) == detail:
            return
        else:
            live.problems[code] = detail[:200]
        self.changed(station)

    def event(self, station: str, ev: p.Event) -> None:
        """Update the live facts from a committed event."""
        live = self.live[station]
        if isinstance(ev, p.SessionStarted):
            live.session = p.SessionInfo(session_id=ev.session_id, start=ev.start, end=ev.end, cause=ev.cause)
            live.resetting = False
            live.reserved_for = None
            live.extensions = 0
            live.pages = 0
            live.idle_s = 0.0
        elif isinstance(ev, p.SessionExtended):
            if live.session and live.session.session_id == ev.session_id:
                live.session = p.SessionInfo(
                    session_id=ev.session_id, start=live.session.start, end=ev.end, cause=live.session.cause
                )
                live.extensions += 1
        elif isinstance(ev, p.SessionEnded):
            if live.session and live.session.session_id == ev.session_id:
                live.session = None
                live.resetting = True
                live.idle_s = 0.0
            if live.help is not None:
                live.help = None
        elif isinstance(ev, p.StationReset):
            live.resetting = False
            if not ev.ok:
                live.locked = f"reset failed: {ev.error}"[:200]
        elif isinstance(ev, p.HelpRequested):
            if live.help is None:
                live.help = HelpFlag(id=ev.help_id, since=ev.at)
            elif ev.help_id != live.help.id and ev.help_id not in live.help.repeats:
                # one open request per station: a repeat is folded into it (as the store does), logged once
                if not live.help.repeats:
                    log.warning("%s: asks for help again while a request is open; repeats are folded into it", station)
                live.help.repeats = [*live.help.repeats[-49:], ev.help_id]
        elif isinstance(ev, p.HelpCancelled):
            if live.help and (live.help.id == ev.help_id or ev.help_id in live.help.repeats):
                live.help = None
        elif isinstance(ev, p.PrintJob):
            live.pages += ev.pages
        elif isinstance(ev, p.EscapeAttempt):
            self._escape(station, live, ev)
        self.changed(station)

    def _escape(self, station: str, live: StationLive, ev: p.EscapeAttempt) -> None:
        # anonymous: the station and what happened, never who; called once per committed event
        log.warning("%s: lock-screen escape %s (station: %s)", station, ev.what, ev.action)
        at = min(ev.at, self.clock.now())  # a station clock a little ahead must not keep it up longer
        if live.escape is not None and live.escape.shown(self.clock.now()):
            flag = live.escape  # several escapes fold into one problem with a count
            flag.count += 1
            if at >= flag.at:
                flag.what, flag.action, flag.at = ev.what, ev.action, at
        else:
            live.escape = EscapeFlag(what=ev.what, action=ev.action, at=at, first=at)

    def dismiss_escape(self, station: str) -> int:
        """A steward saw the escapes: off the floor. Returns how many there were (0: none shown)."""
        live = self.live.get(station)
        if live is None or live.escape is None:
            return 0
        n = live.escape.count if live.escape.shown(self.clock.now()) else 0
        live.escape = None
        self.changed(station)
        return n
