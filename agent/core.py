"""The agent: the station's side of Espace.

It keeps the grant and the clock locally, so a session warns and ends on time
when the network or the controller is down; every event goes through the
durable outbox; the connection to the controller comes and goes with
exponential backoff and jitter.

Visitor actions (start, end, help) come from the session UI through the
methods ``start_session``, ``end_by_visitor``, ``request_help``,
``cancel_help``; what the UI must show goes out through ``on_ui`` callbacks
as small dicts (``{"ui": "warn", "minutes": 5}``), which the session process
channel forwards.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import msgspec

from agent.outbox import Outbox
from agent.pins import PinRefused, Pins
from agent.probes.base import (
    FakeHealth,
    FakeIdle,
    FakePrints,
    FakeResetter,
    HealthSource,
    IdleSource,
    PrintRecord,
    PrintSource,
    ResetReport,
    Resetter,
)
from agent.probes.print_gate import FakePrintGate, PrintGate
from agent.probes.problems import probe_problems
from agent.timer import (
    End,
    IdleClear,
    IdlePrompt,
    LocalSession,
    Warn,
    due,
    mark_warned,
    next_deadline,
)
from espace import enrolcode
from espace import protocol as p
from espace.backoff import backoff_delay
from espace.clock import Clock, OffsetClock, SystemClock
from espace.grant import local_grant
from espace.tls import pin

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
UNAUTHORISED = p.CloseCode.UNAUTHORISED
PENDING = p.CloseCode.PENDING
STORE_DOWN = p.CloseCode.STORE_DOWN  # the controller's store cannot commit: back off, all 61 stations must not knock at once

# Problems the station reports to the floor (``floor.problem.<code>`` in the catalogs)
DISK_FULL = "disk_full"  # the outbox cannot be written: events wait in memory
OUTBOX_ERROR = "outbox_error"  # the outbox cannot be written for another reason
EVENT_SET_ASIDE = "event_set_aside"  # the controller refused an event for good: kept aside, the rest flows
CLOCK_OFFSET = "clock_offset"  # the station's clock is far from the controller's (corrected, but IT should fix it)

CLOCK_PROBLEM_S = 120.0  # an offset larger than this (clock seconds) is a problem on the floor
MAX_UNWRITTEN = 5000  # events kept in memory while the outbox cannot be written
HELP_PER_SESSION = 5  # help requests a visitor may send in one session
HELP_SPACING_S = 60.0  # clock seconds between two help requests of one session
ESCAPE_SPACING_S = 30.0  # clock seconds between two escape_attempt events of one kind the screen reports
START_ANSWER_S = 5.0  # real seconds the controller has to answer a start request


def _write_failure(exc: BaseException) -> str:
    return DISK_FULL if "full" in str(exc).lower() or getattr(exc, "errno", None) == 28 else OUTBOX_ERROR


def _warned_event(seq: int, *, at: float, session_id: str, minutes: int, kind: Literal["time", "last_call"]) -> p.SessionWarned:
    return p.SessionWarned(id=p.new_id(), seq=seq, at=at, session_id=session_id, minutes_left=minutes, kind=kind)


def _print_event(seq: int, *, record: PrintRecord, session_id: str | None, source: Literal["cups", "windows", "fake"]) -> p.PrintJob:
    return p.PrintJob(
        id=p.new_id(), seq=seq, at=record.at, job=record.job[:100], printer=p.os_name(record.printer, 127), pages=record.pages,
        colour_pages=record.colour_pages, session_id=session_id, source=source,
    )  # fmt: skip


def retry_delay(code: int | None, attempt: int, store_down: int = 0) -> float:
    """Seconds before the next connection attempt, after a link closed with ``code``."""
    if code == PENDING:  # an admin may approve at any moment: ask again within 10 s
        return backoff_delay(attempt + 4, cap=10.0, floor=2.0)
    if store_down:  # the store cannot commit: 1 s at least, then up to 30 s, with full jitter
        return backoff_delay(store_down + 1, floor=1.0)
    return backoff_delay(attempt + (4 if code == UNAUTHORISED else 0))


@dataclass
class Probes:
    idle: IdleSource = field(default_factory=FakeIdle)
    prints: PrintSource = field(default_factory=FakePrints)
    reset: Resetter = field(default_factory=FakeResetter)
    health: HealthSource = field(default_factory=FakeHealth)
    print_gate: PrintGate = field(default_factory=FakePrintGate)


class Agent:
    idle_poll_s = 0.25  # real seconds between idle readings when no deadline is nearer
    backoff_scale = 1.0  # reconnection delays times this (``espace-agent run --backoff-scale``: tests only)
    resetting = False  # a reset runs now
    last_reset_at: float | None = None  # when the last reset ended (the agent's clock)

    def __init__(
        self,
        station: str,
        token: str | None,
        url: str | Callable[[], Awaitable[str | None]],
        outbox: Outbox,
        *,
        clock: Clock | None = None,
        probes: Probes | None = None,
        heartbeat_s: float = 10.0,
        print_poll_s: float = 5.0,
        ssl: Any = None,
        ssl_provider: Callable[[str], Any] | None = None,
        token_file: str | os.PathLike[str] | None = None,
        pins: Pins | None = None,
        advertised: Callable[[], str | None] | None = None,
        hostname: str = "",
        platform: str = "",
        mac: str = "",
        offline_grant_after_s: float = 15.0,
    ) -> None:
        self.station = station
        self.token = token
        self.url = url
        self.outbox = outbox
        # the station's clock on the controller's timeline: grants, deadlines and events all read it
        self.clock = OffsetClock(clock or SystemClock())
        # real seconds without a link before the station grants sessions on its own (a start the
        # controller refused, or one whose link dropped, is asked again meanwhile, never granted locally)
        self.offline_grant_after_s = offline_grant_after_s
        outbox.clock = self.clock  # acknowledged events are kept for a window of the station's time
        self.probes = probes or Probes()
        self.heartbeat_s = heartbeat_s
        self.print_poll_s = print_poll_s
        self.ssl = ssl if ssl is not None else True  # True: normal verification (wss:// with a CA)
        self.ssl_provider = ssl_provider  # per attempt, e.g. the fingerprint discovery advertises
        # the controller's pin, configured or learned on first use: never given up for ws:// or another certificate
        self.pins = pins if pins is not None else Pins(None)
        if isinstance(ssl, aiohttp.Fingerprint) and self.pins.configured is None:
            self.pins.configured = ssl.fingerprint.hex()
        self.advertised = advertised  # the fingerprint discovery advertises for the chosen controller
        self.pin_problem: str | None = None  # why the last attempt was refused for the pin's sake (status, log)
        self.token_file = Path(token_file) if token_file else None
        if self.token is None and self.token_file is not None and self.token_file.exists():
            self.token = self.token_file.read_text(encoding="utf-8").strip() or None
        self.identity = {"hostname": hostname, "platform": platform, "mac": mac}
        self.enrol_key: str | None = None
        self.fingerprint: str | None = None
        self.rules: p.Rules | None = None
        self.session: LocalSession | None = None
        self.locked: str | None = None
        self.screen_lang = "fr"  # the language the station's screen shows now: a steward's session is in it
        self.connected = asyncio.Event()
        self.ui_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._new_events = asyncio.Event()
        self._requests: dict[str, asyncio.Future[p.Grant | p.Refuse]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._inflight: set[str] = set()
        self._stopping = False
        self._print_held = False
        self._start_lock = asyncio.Lock()
        self.connects = 0
        self.last_close: tuple[int | None, str] = (None, "")
        self.problems: dict[str, str] = {}  # code -> detail, reported in every heartbeat
        self._link_down_since = time.monotonic()  # real time; the agent has no link when it starts
        self._unwritten: collections.deque[Callable[[int], p.Event]] = collections.deque()
        self._unwritten_dropped = 0
        self._unsaved: dict[str, Any] = {}  # state the outbox could not store yet (key -> value)
        self._write_lock = asyncio.Lock()
        self._write_retry = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._help_times: list[float] = []  # this session's help requests (clock instants)
        self._beats = 0
        self.screen_watch: Any = None  # agent.screenwatch.ScreenWatch, when [lockdown] watches the screen
        self._escapes_at: dict[str, float] = {}  # what -> clock instant of the last one the screen reported

    # ================================================================ lifetime

    async def start(self) -> None:
        await self._recover()
        self._tasks = [
            asyncio.create_task(self._supervise("connection", self._connection_loop), name=f"{self.station}-conn"),
            asyncio.create_task(self._supervise("enforcement", self._enforce_loop), name=f"{self.station}-enforce"),
            asyncio.create_task(self._supervise("prints", self._print_loop), name=f"{self.station}-prints"),
            asyncio.create_task(self._supervise("outbox writer", self._write_loop), name=f"{self.station}-writer"),
        ]

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run one of the agent's loops for ever: an exception is logged and the loop starts again."""
        failures = 0
        while not self._stopping:
            try:
                await loop()
                if self._stopping:
                    return
                log.error("%s: the %s loop returned; starting it again", self.station, name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: the %s loop failed; starting it again", self.station, name)
            failures += 1
            await asyncio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)))  # restart pacing, real time

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await self._ws.close()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def _recover(self) -> None:
        """After a restart: cached rules back; a session the station was holding ends as station_restart."""
        cached = await self.outbox.get("rules")
        if cached is not None:
            with contextlib.suppress(msgspec.ValidationError):
                self.rules = msgspec.convert(cached, p.Rules)
        offset = await self.outbox.get("clock_offset")
        if isinstance(offset, (int, float)):
            self.clock.offset = float(offset)  # the last one measured: offline grants stay on the controller's timeline
        self.locked = await self.outbox.get("locked")
        self.enrol_key = await self.outbox.get("enrol_key")
        if self.enrol_key is None:
            self.enrol_key = secrets.token_urlsafe(24)
            await self._put("enrol_key", self.enrol_key)
        held = await self.outbox.get("session")
        if held is not None:
            self.session = LocalSession.from_dict(held)
            log.warning("%s: found session %s after a restart; ending it", self.station, self.session.session_id)
            await self._end("station_restart")

    # ================================================================ visitor actions

    async def start_session(self, lang: str = "fr", ticket: str | None = None, dry_run: bool = False) -> p.Grant | p.Refuse | None:
        """The visitor pressed "start my session". Returns the grant, a refusal, or None if busy."""
        async with self._start_lock:  # a double tap starts one session, not two
            return await self._start_session(lang, ticket, dry_run)

    def set_screen_lang(self, lang: str) -> bool:
        """The visitor chose ``lang`` on the screen (fr, nl or en); False for any other value."""
        if lang not in p.LANGS:
            return False
        self.screen_lang = lang
        return True

    async def _start_session(self, lang: str, ticket: str | None, dry_run: bool) -> p.Grant | p.Refuse | None:
        self.set_screen_lang(lang)
        if self.session is not None or self.locked is not None:
            return None
        # checked before anything is sent: a value the controller would refuse must not cut the link
        p.checked(p.StartRequest(request="check", lang=lang, ticket=ticket, dry_run=dry_run))  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + max(20.0, 2 * self.offline_grant_after_s)  # then "busy": the visitor tries again
        while True:
            if self._ws is not None and self.connected.is_set():
                req = p.StartRequest(request=p.new_id(), lang=lang, ticket=ticket, dry_run=dry_run)  # type: ignore[arg-type]
                answer = await self._ask(req)
                if isinstance(answer, p.Refuse) and answer.reason == "busy" and await self._catching_up():
                    # the controller's view lags this station's outbox (the end of the last session is
                    # still on its way after a reconnect): ask again once it has caught up
                    await asyncio.sleep(0.2)  # real time
                    if loop.time() < give_up:
                        continue
                if answer is not None:
                    if isinstance(answer, p.Grant) and not dry_run:
                        await self._begin(answer, lang, offline=False)
                    return answer
                # no answer (the link dropped, or the controller is silent): asked again, never granted
                # locally because of it — a visitor could provoke that drop to take a station held for another
                log.warning("%s: a start request got no answer; asking again", self.station)
                await asyncio.sleep(0.2)  # real time: the link's state settles before the next try
            elif self._away_for_long():
                break
            if loop.time() >= give_up:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.25):  # real time: wait for the link, or for it to stay away
                    await self._connected_again()
        return await self._local_start(lang, dry_run)

    async def _catching_up(self) -> bool:
        """Are events of this station still waiting for the controller's commit?"""
        try:
            return bool(self._unwritten) or await self.outbox.count() > 0
        except (sqlite3.Error, OSError):
            return True

    async def _connected_again(self) -> None:
        await self.connected.wait()

    async def _ask(self, req: p.StartRequest) -> p.Grant | p.Refuse | None:
        fut: asyncio.Future[p.Grant | p.Refuse] = asyncio.get_running_loop().create_future()
        self._requests[req.request] = fut
        try:
            await self._send(p.encode(req))
            async with asyncio.timeout(START_ANSWER_S):  # not wait_for: on 3.11 it can swallow a cancellation
                return await fut
        except (TimeoutError, ConnectionError, RuntimeError, aiohttp.ClientError):
            return None
        finally:
            self._requests.pop(req.request, None)

    def _away_for_long(self) -> bool:
        """Has the controller really been away (no link for ``offline_grant_after_s`` real seconds)?"""
        return not self.connected.is_set() and time.monotonic() - self._link_down_since >= self.offline_grant_after_s

    async def _local_start(self, lang: str, dry_run: bool) -> p.Grant | p.Refuse:
        """The controller is away: grant from the cached rules, holds included."""
        now = self.clock.now()
        hold = next((h for h in (self.rules.holds if self.rules else []) if h.start <= now < h.end), None)
        if hold is not None:  # a PC held for a called queue ticket stays held
            return p.Refuse(cmd=p.new_id(), request="local", reason="reserved", until=hold.end)
        decided = local_grant(self.rules, now)
        if decided is None:
            return p.Refuse(cmd=p.new_id(), request="local", reason="closed")
        grant = p.Grant(cmd=p.new_id(), session_id=p.new_id(), start=now, end=decided.end, cause=decided.cause,
                        origin="walkup", label=decided.label[:200])  # fmt: skip
        if not dry_run:
            await self._begin(grant, lang, offline=True)
        return grant

    async def end_by_visitor(self) -> None:
        if self.session is not None:
            await self._end("visitor")

    def help_limited(self) -> bool:
        """Has this session asked for help too often (a visitor pressing help and cancel in a loop)?"""
        now = self.clock.now()
        times = self._help_times
        return len(times) >= HELP_PER_SESSION or (bool(times) and now - times[-1] < HELP_SPACING_S)

    async def request_help(self) -> str | None:
        s = self.session
        if s is None or s.help_id is not None or self.help_limited():
            return None
        now = self.clock.now()
        self._help_times.append(now)
        s.help_id = help_id = p.new_id()
        await self._save_session()
        await self._emit(lambda seq: p.HelpRequested(id=p.new_id(), seq=seq, at=now, help_id=help_id, session_id=s.session_id))
        self._ui({"ui": "help", "state": "sent"})
        return help_id

    async def cancel_help(self) -> None:
        s = self.session
        if s is None or s.help_id is None:
            return
        help_id, s.help_id = s.help_id, None
        now = self.clock.now()
        await self._save_session()
        await self._emit(lambda seq: p.HelpCancelled(id=p.new_id(), seq=seq, at=now, help_id=help_id))
        self._ui({"ui": "help", "state": "none"})

    async def escape_from_screen(self, what: p.EscapeWhat) -> bool:
        """The screen saw a way around it (focus taken, no grab): recorded, at most once per ``what`` per 30 s."""
        now = self.clock.now()
        last = self._escapes_at.get(what)
        if last is not None and now - last < ESCAPE_SPACING_S:
            return False
        self._escapes_at[what] = now
        action: p.EscapeAction = "refocused" if what == "focus_lost" else "none"
        await self.report_escape(what, action, self.session.session_id if self.session else None)
        return True

    async def report_escape(self, what: p.EscapeWhat, action: p.EscapeAction, session_id: str | None = None) -> None:
        """An ``escape_attempt`` event through the outbox, like every event."""
        now = self.clock.now()
        log.warning("%s: lock screen escape: %s (%s)", self.station, what, action)
        await self._emit(lambda seq: p.EscapeAttempt(id=p.new_id(), seq=seq, at=now, what=what, action=action, session_id=session_id))

    async def end_session(self, reason: p.EndReason) -> None:
        """End the running session (if any) by the normal path: event, reset, lock screen."""
        await self._end(reason)

    def set_station_problem(self, code: str, detail: str | None) -> None:
        """Raise (detail) or clear (None) a station problem the heartbeat reports."""
        self._set_problem(code, detail)

    # ================================================================ session lifecycle

    async def _begin(self, grant: p.Grant, lang: str, offline: bool) -> None:
        now = self.clock.now()
        self.session = LocalSession(
            session_id=grant.session_id, start=grant.start, end=grant.end, cause=grant.cause, origin=grant.origin, lang=lang
        )
        self._help_times = []
        await self._save_session()
        s = self.session
        await self._emit(
            lambda seq: p.SessionStarted(
                id=p.new_id(), seq=seq, at=now, session_id=s.session_id, start=s.start, end=s.end,
                cause=s.cause, origin=s.origin, lang=lang, offline=offline,  # type: ignore[arg-type]
            )
        )
        self._ui({"ui": "session", "end": s.end, "cause": s.cause, "label": grant.label})
        self._wake.set()

    async def _end(self, reason: p.EndReason) -> None:
        s = self.session
        if s is None:
            return
        now = self.clock.now()
        await self._emit(lambda seq: p.SessionEnded(id=p.new_id(), seq=seq, at=now, session_id=s.session_id, reason=reason))
        self.session = None
        await self._put("session", None)
        self._ui({"ui": "cleaning", "reason": reason})
        loop = asyncio.get_running_loop()
        self.resetting = True  # the reset ends the visitor's programs, their screen too (not an escape)
        try:
            report = await loop.run_in_executor(None, self.probes.reset.reset)
        except Exception as exc:  # a reset that cannot say how it went has failed: lock, never hand dirty data on
            log.exception("%s: the reset failed", self.station)
            report = ResetReport(ok=False, error=f"reset raised {type(exc).__name__}: {exc}")
        finally:
            self.resetting = False
            self.last_reset_at = self.clock.now()
        if self._print_held or (self.rules is not None and self.rules.print_quota_pages):
            try:
                await loop.run_in_executor(None, self.probes.print_gate.release)  # the next visitor starts with a fresh quota
                self._print_held = False
            except Exception:
                log.exception("%s: could not release the held print queue", self.station)
        reset_at = self.clock.now()
        await self._emit(
            lambda seq: p.StationReset(
                id=p.new_id(), seq=seq, at=reset_at, session_id=s.session_id, ok=report.ok,
                files_removed=report.files_removed, processes_ended=report.processes_ended, error=report.error[:200],
            )
        )
        if not report.ok:
            await self._set_locked(f"reset failed: {report.error}"[:200])
        elif self.locked is None:
            self._ui({"ui": "lock_screen"})

    async def _save_session(self) -> None:
        await self._put("session", self.session.as_dict() if self.session else None)

    async def _set_locked(self, reason: str | None) -> None:
        self.locked = reason
        await self._put("locked", reason)
        self._ui({"ui": "out_of_order", "reason": reason} if reason is not None else {"ui": "lock_screen"})

    async def _enforce_loop(self) -> None:
        while not self._stopping:
            s = self.session
            rules = self.rules or p.Rules()
            wait = self.idle_poll_s
            if s is not None:
                await self._enforce(s, rules)
            s = self.session
            if s is not None:
                now = self.clock.now()
                wait = min(wait, max(0.0, (next_deadline(s, now, rules) - now) / self.clock.speed) + 0.001)
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that lands
            # as the wait ends, and stop() then waits for this task forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _enforce(self, s: LocalSession, rules: p.Rules) -> None:
        now = self.clock.now()
        idle = self.probes.idle.idle_seconds()
        for action in due(s, now, idle, rules):
            if isinstance(action, End):
                await self._end(action.reason)
                return
            if isinstance(action, Warn):
                mark_warned(s, action, rules)
                await self._save_session()
                warned = functools.partial(_warned_event, at=now, session_id=s.session_id, minutes=action.minutes, kind=action.kind)
                await self._emit(warned)
                self._ui({"ui": "warn", "minutes": action.minutes, "kind": action.kind})
            elif isinstance(action, IdlePrompt):
                s.idle_prompted = True
                await self._save_session()
                await self._emit(
                    lambda seq: p.SessionWarned(id=p.new_id(), seq=seq, at=now, session_id=s.session_id, minutes_left=max(0, int((s.end - now) // 60)), kind="idle")
                )
                self._ui({"ui": "idle_prompt", "seconds_left": action.seconds_left})
            elif isinstance(action, IdleClear):
                s.idle_prompted = False
                await self._save_session()
                self._ui({"ui": "idle_clear"})

    async def _print_loop(self) -> None:
        while True:
            await asyncio.sleep(self.print_poll_s)  # polling cadence of the OS log, not policy
            records = await asyncio.get_running_loop().run_in_executor(None, self.probes.prints.poll)
            for r in records:
                # a print log is written on the station's clock: on the controller's timeline, like the session
                r = dataclasses.replace(r, at=r.at + self.clock.offset) if self.clock.offset else r
                s = self.session
                # logs keep whole seconds: a job of the session's first second is logged "before" it
                sid = s.session_id if s is not None and s.start - 1 <= r.at <= s.end + 120 else None
                if s is not None and sid is not None:
                    s.pages += r.pages
                source: Literal["cups", "windows", "fake"] = "fake" if isinstance(self.probes.prints, FakePrints) else (
                    "windows" if getattr(self.probes.prints, "source", "") == "windows" else "cups"
                )  # fmt: skip
                await self._emit(functools.partial(_print_event, record=r, session_id=sid, source=source))
                if s is not None and sid is not None:
                    await self._check_quota(s)

    async def _check_quota(self, s: LocalSession) -> None:
        """Warn at 80% of the session's print quota; hold further jobs at 100%."""
        quota = self.rules.print_quota_pages if self.rules else 0
        state = "ok"
        if quota and s.pages >= quota:
            state = "held"
            if not self._print_held:
                try:
                    self._print_held = await asyncio.get_running_loop().run_in_executor(None, self.probes.print_gate.hold)
                except Exception:  # the visitor is told; the count goes on
                    log.exception("%s: could not hold the print queue", self.station)
        elif quota and s.pages >= 0.8 * quota:
            state = "warn"
        self._ui({"ui": "prints", "pages": s.pages, "quota": quota, "state": state})

    # ================================================================ events and UI

    async def _emit(self, build: Callable[[int], p.Event]) -> None:
        """Queue an event for the outbox. Never raises: enforcement must not depend on a write.

        Events the outbox cannot take now (a full disk) wait in memory, in order and bounded,
        and are written by the writer loop when space returns; the floor shows the problem."""
        if len(self._unwritten) >= MAX_UNWRITTEN:
            self._unwritten.popleft()
            self._unwritten_dropped += 1
            log.error("%s: %d events lost: the outbox has been unwritable too long", self.station, self._unwritten_dropped)
        self._unwritten.append(build)
        await self._write_unwritten()

    async def _write_unwritten(self) -> bool:
        """Write the events waiting in memory, oldest first. True if none is left."""
        async with self._write_lock:
            while self._unwritten:
                build = self._unwritten[0]
                try:
                    await self.outbox.add(lambda seq, build=build: p.checked(build(seq)))  # type: ignore[misc]
                except p.ProtocolError as exc:  # a bug of ours: kept for IT, its seq not consumed
                    log.error("%s: an event the controller would refuse was set aside: %s", self.station, exc)
                    with contextlib.suppress(sqlite3.Error, OSError):
                        await self.outbox.set_aside_invalid(repr(build(0))[:2000], str(exc))
                    self._set_problem(EVENT_SET_ASIDE, str(exc))
                except (sqlite3.Error, OSError) as exc:
                    self._write_failed(exc, f"{len(self._unwritten)} events wait in memory")
                    return False
                self._unwritten.popleft()
                self._new_events.set()
            if not self._unsaved:
                self._write_ok()
            return True

    async def _put(self, key: str, value: Any) -> None:
        """Store a piece of state; if the outbox cannot, keep it to store later (never raises)."""
        try:
            await self.outbox.put(key, value)
        except (sqlite3.Error, OSError) as exc:
            self._unsaved[key] = value
            self._write_failed(exc, f"state {key!r} waits in memory")
            return
        self._unsaved.pop(key, None)

    def _write_failed(self, exc: BaseException, what: str) -> None:
        code = _write_failure(exc)
        if code not in self.problems:
            log.error("%s: the outbox cannot be written (%s); %s, enforcement goes on", self.station, exc, what)
        self._set_problem(code, str(exc)[:200])
        self._write_retry.set()

    def _write_ok(self) -> None:
        for code in (DISK_FULL, OUTBOX_ERROR):
            if code in self.problems:
                log.warning("%s: the outbox can be written again; everything kept in memory is stored", self.station)
                self._set_problem(code, None)

    async def _write_loop(self) -> None:
        """While the outbox cannot be written: try again every few seconds (real time)."""
        while True:
            await self._write_retry.wait()
            await asyncio.sleep(2.0)  # retry cadence of a full disk, real time
            for key, value in list(self._unsaved.items()):
                await self._put(key, value)
            if await self._write_unwritten() and not self._unsaved:
                self._write_retry.clear()

    def _set_problem(self, code: str, detail: str | None) -> None:
        """Raise (detail) or clear (None) a station problem; the controller hears of it at once."""
        if detail is None:
            if self.problems.pop(code, None) is None:
                return
        elif self.problems.get(code) == detail:
            return
        else:
            self.problems[code] = detail[:200]
        self._beat_now.set()

    def _ui(self, message: dict[str, Any]) -> None:
        for listener in self.ui_listeners:
            try:
                listener(message)
            except Exception:  # a broken screen must not stop enforcement
                log.exception("%s: UI listener failed", self.station)

    # ================================================================ the connection

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError("not connected")
        async with self._send_lock:
            await ws.send_str(text)

    async def _connection_loop(self) -> None:
        attempt = 0
        store_down = 0  # 4503 closes in a row: a link that reached the welcome does not reset this backoff
        async with aiohttp.ClientSession() as http:
            while not self._stopping:
                try:
                    url = await self._resolve_url()
                    if url is None:
                        raise ConnectionError("no controller found yet (discovery) and no fallback URL")
                    ssl, first_use = self._link_security(url)
                    async with http.ws_connect(url, heartbeat=30, max_msg_size=4 * p.MAX_FRAME_BYTES, ssl=ssl) as ws:
                        if first_use is not None:  # the TLS handshake met the advertised certificate: keep it
                            self.pins.learn(first_use)
                        self.pin_problem = None
                        self._ws = ws
                        if await self._serve(ws):
                            attempt = 0
                except asyncio.CancelledError:
                    raise
                except (PinRefused, aiohttp.ServerFingerprintMismatch) as exc:
                    if isinstance(exc, PinRefused):
                        problem = str(exc)
                    else:  # the handshake met another certificate than the pinned one
                        problem = f"the controller's certificate is not the pinned one (ServerFingerprintMismatch: got {exc.got.hex()}, pinned {exc.expected.hex()})"
                    if problem != self.pin_problem:  # once per change, not per attempt
                        log.error("%s: %s; nothing sent", self.station, problem)
                    self.pin_problem = problem
                except Exception as exc:  # noqa: BLE001 - the link must never die for good
                    # the first failure of a streak is worth a line; the retries are not
                    (log.warning if attempt == 0 else log.debug)("%s: cannot reach the controller: %r", self.station, exc)
                finally:
                    self._ws = None
                    if self.connected.is_set():
                        self._link_down_since = time.monotonic()
                    self.connected.clear()
                    self._inflight.clear()
                    for fut in self._requests.values():
                        if not fut.done():  # not cancel(): the visitor's start must fall back, not die
                            fut.set_exception(ConnectionError("the link to the controller dropped"))
                code = self.last_close[0]
                store_down = store_down + 1 if code == STORE_DOWN else 0
                delay = retry_delay(code, attempt, store_down) * self.backoff_scale
                attempt += 1
                await asyncio.sleep(delay)  # transport backoff, real time

    def _link_security(self, url: str) -> tuple[Any, str | None]:
        """The ``ssl=`` for this attempt, and the advertised fingerprint to learn if it is the first use.

        PinRefused, before anything is sent, if the station holds a pin and the URL is
        ``ws://`` or the controller advertises another certificate.
        """
        advertised = self.advertised() if self.advertised is not None else None
        held = self.pins.check(url, advertised)
        if held is not None:
            return pin(held), None
        if url.startswith("wss://") and advertised:
            return pin(advertised), advertised  # trust on first use
        ssl = self.ssl_provider(url) if self.ssl_provider is not None else self.ssl
        return ssl, None

    async def _resolve_url(self) -> str | None:
        """The URL for this attempt: a fixed string, or asked of discovery each time (it follows the controller)."""
        if isinstance(self.url, str):
            return self.url
        return await self.url()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """One connection's life. Returns True if it got as far as the welcome."""
        hello = p.Hello(
            station=self.station, token=self.token, enrol_key=None if self.token else self.enrol_key,
            agent_version=AGENT_VERSION, capabilities=["session", "print", "help"],
            session=self.session.info() if self.session else None, hostname=p.os_name(self.identity["hostname"], 253),
            platform=self.identity["platform"], mac=self.identity["mac"],
            incarnation=self.outbox.incarnation, held_from=await self.outbox.held_from(),
        )
        hello_sent = self.clock.local_now()
        await ws.send_str(p.encode(hello))
        first = await ws.receive(timeout=15)
        if first.type == aiohttp.WSMsgType.TEXT:
            welcome = p.decode_from_controller(first.data)
            if isinstance(welcome, p.Welcome):
                await self._clock_sample(hello_sent, welcome.server_time)
            if isinstance(welcome, p.Pending):
                # the code comes from this station's own key (espace.enrolcode), whatever the controller says:
                # the admin approves the key this screen stands for
                self.fingerprint = enrolcode.code_for_key(self.enrol_key or "")
                if welcome.fingerprint != self.fingerprint:
                    log.warning("%s: the controller lists this station under code %s, not its own %s", self.station, welcome.fingerprint[:40], self.fingerprint)
                log.warning("%s: waiting for an admin to approve this station (code %s)", self.station, self.fingerprint)
                self._ui({"ui": "pending", "fingerprint": self.fingerprint})
                await ws.receive(timeout=15)
                self.last_close = (PENDING, "pending")
                return False
        else:
            self.last_close = (ws.close_code, str(first.extra or ""))
            log.warning("%s: controller closed before welcome: %s %s", self.station, ws.close_code, first.extra)
            if ws.close_code == UNAUTHORISED and self.token is not None and self.token_file is not None:
                log.warning("%s: token refused; asking to enrol again", self.station)
                self.token = None
                with contextlib.suppress(OSError):
                    self.token_file.unlink()
            return False
        if not isinstance(welcome, p.Welcome):
            log.warning("%s: expected welcome, got %s", self.station, type(welcome).__name__)
            return False
        await self._welcomed(welcome)
        self.connects += 1
        self.connected.set()
        self.last_close = (None, "")
        sender = asyncio.create_task(self._sender(ws))
        beat = asyncio.create_task(self._heartbeats(ws))
        for t in (sender, beat):  # neither may die silently while the link looks up: log, and connect again
            t.add_done_callback(functools.partial(self._link_task_done, ws))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    m = p.decode_from_controller(msg.data)
                except p.ProtocolError as exc:
                    log.warning("%s: bad message from controller: %s", self.station, exc)
                    continue
                await self._handle(m)
        finally:
            sender.cancel()
            beat.cancel()
            for t in (sender, beat):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self.last_close = (ws.close_code, "")
        return True

    def _link_task_done(self, ws: aiohttp.ClientWebSocketResponse, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, (ConnectionError, RuntimeError, aiohttp.ClientError)):
            log.debug("%s: %s stopped with the link: %r", self.station, task.get_name(), exc)
        else:
            log.error("%s: %s failed; connecting again", self.station, task.get_name(), exc_info=exc)
        if not ws.closed:
            asyncio.ensure_future(ws.close())

    async def _welcomed(self, w: p.Welcome) -> None:
        if w.token:
            self.token = w.token
            self._save_token(w.token)
            log.info("%s: enrolled; token stored", self.station)
            self._ui({"ui": "lock_screen"})  # the set-up screen gives way to the lock screen
        self.rules = w.rules
        await self._put("rules", msgspec.to_builtins(w.rules))
        if w.last_seq > await self.outbox.last_seq():
            # the controller holds more of this incarnation than this outbox ever numbered: the outbox is an
            # old copy (a disk image put back). Its numbers would collide: number what waits anew, and say hello again
            incarnation = await self.outbox.new_incarnation()
            log.error("%s: the controller holds seq %d, beyond this outbox's; its events go again as incarnation %s",
                      self.station, w.last_seq, incarnation)  # fmt: skip
            raise ConnectionError("outbox behind the controller: new incarnation")
        await self.outbox.committed_up_to(w.last_seq)
        # the controller's lock is applied; a lock the station set itself after a failed wipe
        # stays until a steward unlocks it explicitly (dirty data is never handed on)
        if w.locked is not None and w.locked != self.locked and self.session is None:
            await self._set_locked(w.locked)
        elif w.locked is None and self.locked is not None and not self.locked.startswith("reset failed"):
            await self._set_locked(None)

    def _save_token(self, token: str) -> None:
        """Readable by the service account only (mode 0600; on Windows the folder's ACL, set by the installer)."""
        if self.token_file is None:
            return
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.token_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token)
        os.replace(tmp, self.token_file)

    async def _sender(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            self._new_events.clear()
            for _seq, event_id, body in await self.outbox.pending():
                if event_id not in self._inflight:
                    self._inflight.add(event_id)
                    await self._send(body)
            await self._new_events.wait()

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                health = await loop.run_in_executor(None, self.probes.health.read)
            except Exception:  # a failing probe costs the health figures, not the heartbeat
                log.exception("%s: the health probe failed", self.station)
                health = None
            problems = probe_problems(self.probes)
            if problems and health is not None:
                health = msgspec.structs.replace(health, problems=problems)
            await self._send(p.encode(self._heartbeat(health)))
            self._beat_now.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):  # transport cadence, real time
                    await self._beat_now.wait()  # or at once, when a problem appears or goes

    def _heartbeat(self, health: p.Health | None = None) -> p.Heartbeat:
        """What the floor hears of this station: idle time, health, problems; and a clock probe."""
        problems = [p.Problem(code=code, detail=detail) for code, detail in sorted(self.problems.items())]
        self._beats += 1  # the clock is probed on the first beats, then every sixth (about once a minute)
        probe = self._beats <= OffsetClock.SAMPLES or self._beats % 6 == 0
        hb = p.Heartbeat(
            idle_s=max(0.0, self.probes.idle.idle_seconds()), health=health, sent=self.clock.local_now(),
            problems=problems, time_probe=probe, clock_offset_s=self.clock.offset,
        )  # fmt: skip
        try:
            return p.checked(hb)
        except p.ProtocolError as exc:  # a probe's odd reading must not cut the link
            log.warning("%s: heartbeat sent without its health figures: %s", self.station, exc)
            return p.Heartbeat(sent=self.clock.local_now(), problems=problems, time_probe=probe, clock_offset_s=self.clock.offset)

    async def _clock_sample(self, sent_local: float, server_time: float) -> None:
        """One reading of the controller's clock: the offset every deadline and event then uses."""
        before = self.clock.offset
        offset = self.clock.sample(sent_local, self.clock.local_now(), server_time)
        if offset != before:
            self._wake.set()  # deadlines move with the timeline
        if abs(offset - before) >= 1.0:
            await self._put("clock_offset", offset)
        if abs(offset) > CLOCK_PROBLEM_S:
            if CLOCK_OFFSET not in self.problems:
                log.warning("%s: this station's clock is %+.0f s off the controller's; using the controller's", self.station, -offset)
            self._set_problem(CLOCK_OFFSET, f"{-offset / 60:+.0f} min")
        else:
            self._set_problem(CLOCK_OFFSET, None)

    async def send_heartbeat(self) -> None:
        """An extra heartbeat now (the demo and tests use it after changing the idle time)."""
        if self.connected.is_set():
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(p.encode(self._heartbeat()))

    async def _handle(self, m: p.FromController) -> None:
        if isinstance(m, p.TimeSync):
            if m.sent > 0:
                await self._clock_sample(m.sent, m.server_time)
            return
        if isinstance(m, p.EventAck):
            try:
                await self.outbox.remove(m.id)
            except (sqlite3.Error, OSError) as exc:  # it stays, goes again later, and is taken as a duplicate
                self._write_failed(exc, "acknowledged events stay in the outbox")
            self._inflight.discard(m.id)
            return
        if isinstance(m, p.EventReject):
            if m.retry:  # a gap: reconnect, and the whole outbox goes again in order
                log.warning("%s: controller asks for earlier events first (%s); resending in order", self.station, m.reason)
                if self._ws is not None:
                    await self._ws.close()
                return
            # refused for good (malformed, or wrong for this station): set aside, kept for IT, and the
            # events behind it flow; never resent in a loop, never silently dropped
            log.error("%s: controller refused event %s (seq %d) for good: %s; set aside", self.station, m.id, m.seq, m.reason)
            try:
                await self.outbox.set_aside(m.id, m.reason)
            except (sqlite3.Error, OSError) as exc:
                self._write_failed(exc, "a refused event waits in the outbox")
            self._inflight.discard(m.id)
            self._set_problem(EVENT_SET_ASIDE, f"seq {m.seq}: {m.reason}")
            return
        if isinstance(m, (p.Welcome, p.Pending)):
            return
        if isinstance(m, p.Error):
            log.warning("%s: controller error: %s", self.station, m.reason)
            return
        if isinstance(m, p.Refuse) or (isinstance(m, p.Grant) and m.request in self._requests):
            fut = self._requests.get(m.request or "")
            if fut is not None and not fut.done():
                fut.set_result(m)
            return
        ok, error = await self._command(m)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(p.encode(p.CommandAck(cmd=m.cmd, ok=ok, error=error[:200])))

    async def _command(self, m: p.Command) -> tuple[bool, str]:
        s = self.session
        if isinstance(m, p.Grant):  # a steward opens a session on this station
            if s is not None or self.locked is not None:
                return False, "station busy or locked"
            await self._begin(m, self.screen_lang, offline=False)
            return True, ""
        if isinstance(m, p.Extend):
            if s is None or s.session_id != m.session_id:
                return False, "no such session"
            s.end = m.end
            now = self.clock.now()
            s.warned = [w for w in s.warned if s.end - now <= w * 60]
            await self._save_session()
            await self._emit(lambda seq: p.SessionExtended(id=p.new_id(), seq=seq, at=now, session_id=s.session_id, end=m.end))
            self._ui({"ui": "session", "end": s.end, "cause": s.cause, "extended": True})
            return True, ""
        if isinstance(m, p.EndSession):
            if s is None or s.session_id != m.session_id:
                return False, "no such session"
            await self._end(m.reason)
            return True, ""
        if isinstance(m, p.Message):
            self._ui({"ui": "message", "text": m.text})
            return True, ""
        if isinstance(m, p.HelpUpdate):
            if s is not None and s.help_id == m.help_id:
                if m.state == "done":
                    s.help_id = None
                    await self._save_session()
                self._ui({"ui": "help", "state": "coming" if m.state == "taken" else "none"})
            return True, ""
        if isinstance(m, p.Lock):
            if s is not None:
                await self._end("steward")
            await self._set_locked(m.reason or "out of order")
            return True, ""
        if isinstance(m, p.Unlock):
            await self._set_locked(None)
            return True, ""
        if isinstance(m, p.RulesUpdate):
            self.rules = m.rules
            await self._put("rules", msgspec.to_builtins(m.rules))
            return True, ""
        return False, f"unknown command {type(m).__name__}"
