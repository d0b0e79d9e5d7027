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
import contextlib
import functools
import logging
import os
import secrets
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
from espace.clock import Clock, SystemClock
from espace.grant import local_grant
from espace.tls import pin

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
UNAUTHORISED = p.CloseCode.UNAUTHORISED
PENDING = p.CloseCode.PENDING
STORE_DOWN = p.CloseCode.STORE_DOWN  # the controller's store cannot commit: back off, all 61 stations must not knock at once


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
    ) -> None:
        self.station = station
        self.token = token
        self.url = url
        self.outbox = outbox
        self.clock = clock or SystemClock()
        outbox.clock = self.clock  # acknowledged events are kept for a window of the station's own time
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

    # ================================================================ lifetime

    async def start(self) -> None:
        await self._recover()
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name=f"{self.station}-conn"),
            asyncio.create_task(self._enforce_loop(), name=f"{self.station}-enforce"),
            asyncio.create_task(self._print_loop(), name=f"{self.station}-prints"),
        ]

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
        self.locked = await self.outbox.get("locked")
        self.enrol_key = await self.outbox.get("enrol_key")
        if self.enrol_key is None:
            self.enrol_key = secrets.token_urlsafe(24)
            await self.outbox.put("enrol_key", self.enrol_key)
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
        now = self.clock.now()
        if self._ws is not None and self.connected.is_set():
            req = p.StartRequest(request=p.new_id(), lang=lang, ticket=ticket, dry_run=dry_run)  # type: ignore[arg-type]
            fut: asyncio.Future[p.Grant | p.Refuse] = asyncio.get_running_loop().create_future()
            self._requests[req.request] = fut
            try:
                await self._send(p.encode(req))
                async with asyncio.timeout(5.0):  # not wait_for: on 3.11 it can swallow a cancellation
                    answer = await fut
            except (TimeoutError, ConnectionError, RuntimeError, aiohttp.ClientError):
                answer = None
            finally:
                self._requests.pop(req.request, None)
            if answer is not None:
                if isinstance(answer, p.Grant) and not dry_run:
                    await self._begin(answer, lang, offline=False)
                return answer
        # the controller is away: grant from the cached rules
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

    async def request_help(self) -> str | None:
        s = self.session
        if s is None or s.help_id is not None:
            return None
        s.help_id = p.new_id()
        await self._save_session()
        help_id = s.help_id
        await self._emit(lambda seq: p.HelpRequested(id=p.new_id(), seq=seq, at=self.clock.now(), help_id=help_id, session_id=s.session_id))
        self._ui({"ui": "help", "state": "sent"})
        return help_id

    async def cancel_help(self) -> None:
        s = self.session
        if s is None or s.help_id is None:
            return
        help_id, s.help_id = s.help_id, None
        await self._save_session()
        await self._emit(lambda seq: p.HelpCancelled(id=p.new_id(), seq=seq, at=self.clock.now(), help_id=help_id))
        self._ui({"ui": "help", "state": "none"})

    # ================================================================ session lifecycle

    async def _begin(self, grant: p.Grant, lang: str, offline: bool) -> None:
        now = self.clock.now()
        self.session = LocalSession(
            session_id=grant.session_id, start=grant.start, end=grant.end, cause=grant.cause, origin=grant.origin, lang=lang
        )
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
        await self.outbox.put("session", None)
        self._ui({"ui": "cleaning", "reason": reason})
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(None, self.probes.reset.reset)
        if self._print_held or (self.rules is not None and self.rules.print_quota_pages):
            await loop.run_in_executor(None, self.probes.print_gate.release)  # the next visitor starts with a fresh quota
            self._print_held = False
        await self._emit(
            lambda seq: p.StationReset(
                id=p.new_id(), seq=seq, at=self.clock.now(), session_id=s.session_id, ok=report.ok,
                files_removed=report.files_removed, processes_ended=report.processes_ended, error=report.error[:200],
            )
        )
        if not report.ok:
            await self._set_locked(f"reset failed: {report.error}"[:200])
        elif self.locked is None:
            self._ui({"ui": "lock_screen"})

    async def _save_session(self) -> None:
        await self.outbox.put("session", self.session.as_dict() if self.session else None)

    async def _set_locked(self, reason: str | None) -> None:
        self.locked = reason
        await self.outbox.put("locked", reason)
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
                self._print_held = await asyncio.get_running_loop().run_in_executor(None, self.probes.print_gate.hold)
        elif quota and s.pages >= 0.8 * quota:
            state = "warn"
        self._ui({"ui": "prints", "pages": s.pages, "quota": quota, "state": state})

    # ================================================================ events and UI

    async def _emit(self, build: Callable[[int], p.Event]) -> p.Event:
        ev = await self.outbox.add(build)
        self._new_events.set()
        return ev

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
                    self.connected.clear()
                    self._inflight.clear()
                    for fut in self._requests.values():
                        if not fut.done():  # not cancel(): the visitor's start must fall back, not die
                            fut.set_exception(ConnectionError("the link to the controller dropped"))
                code = self.last_close[0]
                store_down = store_down + 1 if code == STORE_DOWN else 0
                delay = retry_delay(code, attempt, store_down)
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
        await ws.send_str(p.encode(hello))
        first = await ws.receive(timeout=15)
        if first.type == aiohttp.WSMsgType.TEXT:
            welcome = p.decode_from_controller(first.data)
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

    async def _welcomed(self, w: p.Welcome) -> None:
        if w.token:
            self.token = w.token
            self._save_token(w.token)
            log.info("%s: enrolled; token stored", self.station)
            self._ui({"ui": "lock_screen"})  # the set-up screen gives way to the lock screen
        self.rules = w.rules
        await self.outbox.put("rules", msgspec.to_builtins(w.rules))
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
            health = await loop.run_in_executor(None, self.probes.health.read)
            problems = probe_problems(self.probes)
            if problems:
                health = msgspec.structs.replace(health, problems=problems)
            hb = p.Heartbeat(idle_s=self.probes.idle.idle_seconds(), health=health, sent=self.clock.now())
            await self._send(p.encode(hb))
            await asyncio.sleep(self.heartbeat_s)  # transport cadence, real time

    async def send_heartbeat(self) -> None:
        """An extra heartbeat now (the demo and tests use it after changing the idle time)."""
        if self.connected.is_set():
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(p.encode(p.Heartbeat(idle_s=self.probes.idle.idle_seconds(), sent=self.clock.now())))

    async def _handle(self, m: p.FromController) -> None:
        if isinstance(m, p.EventAck):
            await self.outbox.remove(m.id)
            self._inflight.discard(m.id)
            return
        if isinstance(m, p.EventReject):
            if m.retry:  # a gap: reconnect, and the whole outbox goes again in order
                log.warning("%s: controller asks for earlier events first (%s); resending in order", self.station, m.reason)
                if self._ws is not None:
                    await self._ws.close()
                return
            log.error("%s: controller rejected event %s (seq %d): %s", self.station, m.id, m.seq, m.reason)
            await self.outbox.remove(m.id)
            self._inflight.discard(m.id)
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
            s.warned = [w for w in s.warned if s.end - self.clock.now() <= w * 60]
            await self._save_session()
            await self._emit(lambda seq: p.SessionExtended(id=p.new_id(), seq=seq, at=self.clock.now(), session_id=s.session_id, end=m.end))
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
            await self.outbox.put("rules", msgspec.to_builtins(m.rules))
            return True, ""
        return False, f"unknown command {type(m).__name__}"
