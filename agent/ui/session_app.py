"""The session process: the visitor's screens, driven by the agent service.

It runs inside the visitor's desktop session, holds no secret and decides nothing. The
service's ``{"ui": ...}`` messages become :class:`~agent.ui.view.SessionUI` calls; the
visitor's presses become control requests (``start``, ``end``, ``help``, ``cancel_help``,
``idle``). Before a start it asks the service for a dry-run grant so that the lock screen
shows what the visitor will get ("until 14:55 — a workshop starts at 15:00").

It also measures input idleness (only a process in the visitor's session can) and reports
it every few seconds with ``{"op": "idle", "seconds": N}``; the service enforces.

When the service cannot be reached the screen says "out of order", and the link keeps
trying; once back, the screen follows the service's state again.

``espace-agent session-ui [--config agent.toml] [--lang fr]`` runs it (see
:mod:`agent.ui.session_cli`); the idle probe is the one ``[idle]`` names.
"""

from __future__ import annotations

import argparse
import logging
import signal
import tkinter as tk
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.probes.base import IdleSource
from agent.ui.lockdown import Lockdown
from agent.ui.service_link import ServiceLink
from agent.ui.view import REFUSALS, SessionUI
from espace.clock import Clock, SystemClock, clock_from_spec

if TYPE_CHECKING:  # session_cli loads this module only when session-ui runs
    from agent.ui.session_cli import SessionSettings

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]

POLL_MS = 50  # how often Tk looks at the link's inbox
TICK_MS = 250  # countdown refresh
GUARD_MS = 500  # the lock screen's grab and focus checks, and its announcement to the service


class SessionApp:
    """Glue between a :class:`ServiceLink` and a :class:`SessionUI`, on Tk's thread."""

    def __init__(
        self,
        root: tk.Tk,
        link: ServiceLink,
        lang_default: str = "fr",
        idle_source: IdleSource | None = None,
        *,
        clock: Clock | None = None,
        idle_every: float = 5.0,
        offer_every: float = 30.0,
        tz: str | None = None,
        idle_problem: str | None = None,
    ) -> None:
        self.root = root
        self.link = link
        self.idle_source = idle_source
        # why no idleness can be measured here (told to the service, which tells the floor)
        self.idle_problem = idle_problem if idle_source is None else None
        self.clock = clock or SystemClock()
        self._announced: str | None = None  # what the service last heard this screen shows
        self.lockdown = Lockdown(root, self._escape)
        self.idle_every_ms = max(100, int(idle_every * 1000))
        self.offer_every_ms = max(1000, int(offer_every * 1000))
        self.lang = lang_default
        self.ui = SessionUI(
            root,
            lang_default,
            on_start=self._start,
            on_end=lambda: self._call("end"),
            on_help=self._help,
            on_help_cancel=lambda: self._call("cancel_help"),
            on_ack_warning=lambda: (
                None
            ),  # acknowledged on screen; the service already logged the warning
            on_still_here=self._still_here,
            on_ticket=self._ticket,
            on_lang=self._set_lang,
            tz=tz,
        )
        self.connected = False
        self.seen: list[dict[str, Any]] = []  # every service message, for tests and logs
        self._replies: dict[int, Reply] = {}
        self._offer: dict[str, Any] | None = None
        self._starting = False
        self._after: dict[int, str] = {}  # one pending ``after`` per periodic job
        self._stopped = False

    # -- lifetime -----------------------------------------------------------------------------

    def start(self) -> None:
        self.ui.tick(self.clock.now())
        self.ui.show_lock(None)  # "not available" until the service answers
        self.link.start()
        self._every(POLL_MS, self._poll)
        self._every(TICK_MS, lambda: self.ui.tick(self.clock.now()))
        self._every(self.idle_every_ms, self._report_idle)
        self._every(self.offer_every_ms, self._refresh_offer)
        self._every(GUARD_MS, self._guard)

    def stop(self) -> None:
        self._stopped = True
        for ident in self._after.values():
            self.root.after_cancel(ident)
        self._after.clear()
        self.link.stop()

    def _every(self, ms: int, fn: Callable[[], None]) -> None:
        job = len(self._after)

        def run() -> None:
            if self._stopped:
                return
            try:
                fn()
            except Exception:  # a bad message must not freeze the screen
                log.exception("session UI: %s failed", getattr(fn, "__name__", fn))
            self._after[job] = self.root.after(ms, run)

        self._after[job] = self.root.after(ms, run)

    # -- from the service ---------------------------------------------------------------------

    def _poll(self) -> None:
        self.link.pump()
        for _ in range(200):
            try:
                item = self.link.inbox.get_nowait()
            except Exception:  # queue.Empty
                return
            kind = item[0]
            if kind == "up":
                self._up()
            elif kind == "down":
                self._down()
            elif kind == "reply":
                callback = self._replies.pop(item[1], None)
                if callback is not None:
                    callback(item[2])
            elif kind == "ui":
                self.seen.append(item[1])
                self.handle(item[1])

    def _guard(self) -> None:
        """The screen tells the service what it shows; a lock-type screen holds the keyboard (:mod:`agent.ui.lockdown`)."""
        state = "session" if self.ui.mode == "session" else "lock"
        if self.connected and state != self._announced:
            self._announced = state
            self._call("screen", state=state)
        self.lockdown.tick(state == "lock")

    def _escape(self, what: str) -> None:
        if self.connected:
            self._call("escape", what=what)

    def _up(self) -> None:
        self.connected = True
        self._announced = None
        self._guard()  # the screen announces itself as soon as its channel connects
        self._report_idle()
        self._call("status", then=self._status)

    def _down(self) -> None:
        self.connected = False
        self._announced = None
        self._starting = False
        self._offer = None
        self.ui.show_out_of_order("")

    def _status(self, st: dict[str, Any]) -> None:
        if not st.get("ok"):
            return
        session = st.get("session")
        if st.get("enrolment"):
            self._offer = None
            self.ui.show_setup(str(st["enrolment"]))
        elif st.get("locked"):
            self.ui.show_out_of_order(str(st["locked"]))
        elif session:
            if self.ui.mode != "session":
                self.ui.show_session(float(session["end"]))
            self.ui.help_state("sent" if session.get("help_id") else "none")
        else:
            self._refresh_offer(force=True)

    def handle(self, msg: dict[str, Any]) -> None:
        """One ``{"ui": ...}`` message from the service."""
        ui, kind = self.ui, msg.get("ui")
        if kind == "session":
            self._starting = False
            if ui.mode == "session":
                ui.extend(float(msg["end"]))
            else:
                ui.show_session(float(msg["end"]))
        elif kind == "warn":
            ui.warn(int(msg["minutes"]))
        elif kind == "idle_prompt":
            ui.idle_prompt(int(msg["seconds_left"]))
        elif kind == "idle_clear":
            ui.idle_prompt(None)
        elif kind == "help":
            state = msg.get("state", "none")
            ui.help_state(state if state in ("none", "sent", "coming", "unreachable") else "none")
        elif kind == "message":
            ui.show_message(str(msg.get("text", "")))
        elif kind == "prints":
            quota = int(msg.get("quota") or 0)
            ui.set_prints(int(msg.get("pages", 0)), quota or None)
        elif kind == "cleaning":
            self._offer = None
            ui.show_cleaning()
        elif kind == "lock_screen":
            self._refresh_offer(force=True)
        elif kind == "pending":
            self._offer = None
            ui.show_setup(str(msg.get("fingerprint") or ""))
        elif kind == "out_of_order":
            self._offer = None
            ui.show_out_of_order(str(msg.get("reason") or ""))
        else:
            log.info("session UI: ignoring %r", msg)

    # -- the offer on the lock screen ---------------------------------------------------------

    def _refresh_offer(self, force: bool = False) -> None:
        if not self.connected or self._starting or self.ui.mode == "session":
            return
        if not force and self.ui.mode not in ("lock", "closed"):
            return
        self._call("start", then=self._offer_answer, lang=self.lang, ticket=None, dry_run=True)

    def _offer_answer(self, r: dict[str, Any]) -> None:
        if self._starting or self.ui.mode == "session":
            return
        if r.get("ok"):
            offer = {
                "end_ts": r["end"],
                "cause": r.get("cause") or "length",
                "label": r.get("label") or "",
            }
            if offer != self._offer or self.ui.mode != "lock":
                self._offer = offer
                self.ui.show_lock(offer)
            return
        self._offer = None
        refused = r.get("refused")
        if refused == "closed":
            self.ui.show_closed(r.get("until"))
        elif refused == "locked":
            # the service is not locked (it would have said so): the controller clears its lock
            # only after the station's ack, so ask again in a moment
            self.ui.show_lock(None)
            self.root.after(2000, lambda: self._refresh_offer(force=True))
        elif refused == "reserved":
            self.ui.show_lock(None, ticket_mode=True)
        elif refused is not None:
            self.ui.show_lock(None)
        # {"error": "busy"}: a session or a lock is on its way as a ui message

    # -- from the visitor ---------------------------------------------------------------------

    def _start(self) -> None:
        self._starting = True
        self._call("start", then=self._started, lang=self.lang, ticket=None)

    def _ticket(self, code: str) -> None:
        self._starting = True
        self._call("start", then=self._started, lang=self.lang, ticket=code)

    def _started(self, r: dict[str, Any]) -> None:
        self._starting = False
        if r.get("ok"):
            if self.ui.mode != "session":
                self.ui.show_session(float(r["end"]))
            return
        reason = r.get("refused") or "busy"
        self.ui.refused(reason if reason in REFUSALS else "busy")

    def _help(self) -> None:
        def answered(r: dict[str, Any]) -> None:
            if not r.get("ok"):
                self.ui.help_state("unreachable")

        self._call("help", then=answered)

    def _still_here(self) -> None:
        self._call("idle", seconds=0.0)

    def _set_lang(self, lang: str) -> None:
        self.lang = lang
        self._call("lang", lang=lang)  # a session a steward opens from the floor is in this language

    def _report_idle(self) -> None:
        if not self.connected:
            return
        if self.idle_source is None:
            if self.idle_problem:
                self._call("idle_problem", detail=self.idle_problem)
            return
        try:
            seconds = float(self.idle_source.idle_seconds())
        except Exception as exc:  # noqa: BLE001 - no report: the service counts a silent UI as active
            log.warning("session UI: cannot read idle time: %s", exc)
            self._call("idle_problem", detail=f"{type(exc).__name__}: {exc}"[:200])
            return
        self._call("idle", seconds=round(seconds, 1))

    def _call(self, op: str, then: Reply | None = None, **kw: Any) -> None:
        token = self.link.request(op, **kw)
        if then is not None:
            self._replies[token] = then


def idle_from_config(idle: Any) -> tuple[IdleSource | None, str | None]:
    """The idle probe ``[idle]`` asks for, or ``(None, why)`` when none works on this desktop.

    ``why`` goes to the service, which shows it on the floor as a station problem: a
    station that cannot measure idleness never frees itself, and someone must know.
    """
    from agent.probes.idle import make_idle_source

    try:
        return make_idle_source(idle), None
    except Exception as exc:  # noqa: BLE001 - any probe failure is the same problem for the floor
        log.warning("session UI: no idle measure: %s", exc)
        return None, f"{type(exc).__name__}: {exc}"[:200]


def run_session_ui(
    control_path: str,
    lang_default: str = "fr",
    idle_source: IdleSource | None = None,
    *,
    clock: Clock | None = None,
    idle_problem: str | None = None,
) -> int:
    """Run the visitor's screens until SIGTERM/SIGINT; returns an exit code."""
    root = tk.Tk()
    app = SessionApp(root, ServiceLink(control_path), lang_default, idle_source, clock=clock, idle_problem=idle_problem)
    stop = {"now": False}

    def asked_to_stop(_sig: int, _frame: object) -> None:
        stop["now"] = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, asked_to_stop)

    def watch() -> None:
        if stop["now"]:
            root.quit()
        else:
            root.after(200, watch)

    app.start()
    root.after(200, watch)
    try:
        root.mainloop()
    finally:
        app.stop()
        root.destroy()
    return 0


def cmd_session_ui(args: argparse.Namespace, settings: SessionSettings) -> int:
    source, problem = idle_from_config(settings.idle)
    return run_session_ui(settings.control, args.lang, source, clock=clock_from_spec(args.clock), idle_problem=problem)
