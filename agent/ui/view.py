"""The station's session UI as a view: the agent calls its methods, it calls back on input.

No networking and no clock here: the agent service decides (start granted, warnings due,
help acknowledged, session ended) and drives this view over its local channel; the view
only shows and reports what the visitor does. Every visible string comes from
:mod:`espace.i18n`.

Screens (``SessionUI.mode``):

* ``lock`` — full screen, topmost, undecorated: language, charter, "start my session" with
  the time on offer, or the queue-ticket field;
* ``session`` — the lock window is withdrawn; a small movable countdown window stays on top,
  with help, prints and "end my session"; warnings, the idle prompt, confirmations and
  steward messages appear as small topmost dialogs;
* ``closed``, ``out_of_order``, ``cleaning``, ``setup`` (waiting for approval, with the code) — full-screen notices.

The language a visitor picks lasts for their session only: leaving ``session`` for any
full-screen mode returns to the default language.
"""

from __future__ import annotations

import math
import tkinter as tk
from collections.abc import Callable
from datetime import tzinfo
from typing import Any, Literal

from agent.ui import theme
from agent.ui.dialogs import Choice, Dialog
from agent.ui.lock import LockScreen
from agent.ui.panel import Panel
from agent.ui.texts import At, Day, Part, Raw, Texts
from espace.i18n import LANGS, same_local_day

Mode = Literal["lock", "session", "closed", "out_of_order", "cleaning", "setup"]
HELP_STATES = ("none", "sent", "coming", "unreachable")
REFUSALS = ("closed", "reserved", "locked", "busy", "bad_ticket", "no_time")


def _nothing(*_args: object) -> None:
    return None


class SessionUI:
    def __init__(
        self,
        root: tk.Tk,
        lang: str = "fr",
        *,
        on_start: Callable[[], None] = _nothing,
        on_end: Callable[[], None] = _nothing,
        on_help: Callable[[], None] = _nothing,
        on_help_cancel: Callable[[], None] = _nothing,
        on_ack_warning: Callable[[], None] = _nothing,
        on_still_here: Callable[[], None] = _nothing,
        on_ticket: Callable[[str], None] = _nothing,
        on_lang: Callable[[str], None] = _nothing,
        tz: tzinfo | str | None = None,
    ) -> None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}")
        self.root = root
        self.default_lang = lang
        self.mode: Mode = "lock"
        self.now: float | None = None
        self.help: str = "none"
        self._callbacks = {
            "start": on_start,
            "end": on_end,
            "help": on_help,
            "help_cancel": on_help_cancel,
            "ack_warning": on_ack_warning,
            "still_here": on_still_here,
        }
        self._on_ticket = on_ticket
        self._on_lang = on_lang
        self._idle_deadline: float | None = None
        self._idle_left = 0
        self.dialogs: dict[str, Dialog] = {}

        self.texts = Texts(lang, tz)
        self.fonts = theme.Fonts(root)
        root.withdraw()  # undecorated before it is first mapped
        root.overrideredirect(True)
        root.configure(bg=theme.BG)
        root.protocol("WM_DELETE_WINDOW", lambda: None)
        for sequence in ("<Alt-F4>", "<Alt-Key-F4>", "<Control-w>", "<Control-q>"):
            root.bind_all(sequence, lambda _e: "break")
        self.lock = LockScreen(
            root,
            self.texts,
            self.fonts,
            on_start=self._start,
            on_ticket=self._ticket,
            on_lang=self._choose_lang,
            on_large_text=self._toggle_large,
        )
        self.panel = Panel(
            root,
            self.texts,
            self.fonts,
            on_help=self._ask_help,
            on_help_cancel=self._cancel_help,
            on_end=self._ask_end,
            on_large_text=self._toggle_large,
        )
        self._sync_large()
        self.lock.select_lang(lang)
        self.set_prints(0, None)

    # -- full-screen modes -------------------------------------------------------------------

    def show_lock(self, offer: dict[str, Any] | None, ticket_mode: bool = False) -> None:
        self._leave_session()
        self.mode = "lock"
        self._cover(self.lock.show_welcome(offer, ticket_mode))

    def show_closed(self, next_open_ts: float | None) -> None:
        self._leave_session()
        self.mode = "closed"
        extra: list[Part] = []
        if next_open_ts is not None:
            when = At(next_open_ts)
            if self.now is not None and same_local_day(self.now, next_open_ts, self.texts.tz):
                extra.append(("closed.reopens_today", {"time": when}))
            else:
                extra.append(("closed.reopens_on", {"day": Day(next_open_ts), "time": when}))
        self._cover(self.lock.show_notice("closed.title", extra))

    def show_out_of_order(self, reason: str = "") -> None:
        self._leave_session()
        self.mode = "out_of_order"
        extra = [Raw(reason.strip())] if reason.strip() else []
        self._cover(self.lock.show_notice("out_of_order.title", ["out_of_order.body"], extra))

    def show_setup(self, code: str) -> None:
        """The station waits for an admin to approve it: the code to match on the floor."""
        self._leave_session()
        self.mode = "setup"
        self._cover(self.lock.show_notice("setup.title", ["setup.body"], [("setup.code", {"code": code})]))

    def show_cleaning(self) -> None:
        self._leave_session()
        self.mode = "cleaning"
        self._cover(self.lock.show_notice("cleaning.title", ["cleaning.body"]))

    def refused(self, reason: str) -> None:
        """The start (or the ticket) was refused; ``reason`` as in the protocol's Refuse."""
        self.lock.refused(reason if reason in REFUSALS else "busy")

    # -- the session -------------------------------------------------------------------------

    def show_session(self, end_ts: float) -> None:
        self.mode = "session"
        self.root.withdraw()
        self.help_state("none")
        self.panel.show(end_ts, self.now)

    def extend(self, end_ts: float) -> None:
        """A steward extended the session: a new end."""
        self.panel.show(end_ts, self.now)

    def tick(self, now_ts: float) -> None:
        self.now = now_ts
        if self.mode == "session":
            self.panel.tick(now_ts)
        if self._idle_deadline is not None and "idle" in self.dialogs:
            self._set_idle_left(math.ceil(max(0.0, self._idle_deadline - now_ts)))

    def warn(self, minutes_left: int) -> None:
        self._dialog(
            "warn",
            "warn.title",
            [("warn.body", {"minutes": minutes_left})],
            [Choice("warn.ack", self._callbacks["ack_warning"], "primary")],
        )

    def idle_prompt(self, seconds_left: int | None) -> None:
        """Show "Are you still there?" counting down from ``seconds_left``; ``None`` hides it."""
        if seconds_left is None:
            self._close("idle")
            self._idle_deadline = None
            return
        self._idle_deadline = None if self.now is None else self.now + seconds_left
        if "idle" not in self.dialogs or not self.dialogs["idle"].exists():
            self._dialog(
                "idle",
                "idle.title",
                [("idle.body", {"seconds": seconds_left})],
                [Choice("idle.still_here", self._still_here, "primary")],
            )
        self._set_idle_left(seconds_left)

    def help_state(self, state: str) -> None:
        """``none``, ``sent`` (recorded), ``coming`` (a steward acknowledged), ``unreachable``."""
        if state not in HELP_STATES:
            raise ValueError(f"unknown help state {state!r}; expected one of {HELP_STATES}")
        self.help = state
        self.panel.help_state(state)

    def show_message(self, text: str) -> None:
        self._dialog(
            "message", "message.title", [Raw(text)], [Choice("common.ok", _nothing, "primary")]
        )

    def set_prints(self, pages: int, quota: int | None = None) -> None:
        self.panel.set_prints(pages, quota)

    # -- language and size -------------------------------------------------------------------

    def set_lang(self, lang: str) -> None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}")
        self.texts.set_lang(lang)
        self.lock.select_lang(lang)
        self._relayout()

    def set_large_text(self, large: bool) -> None:
        self.fonts.set_large(large)
        self._sync_large()
        self._relayout()

    # -- visitor actions ---------------------------------------------------------------------

    def _start(self) -> None:
        self.lock.starting()
        self._callbacks["start"]()

    def _ticket(self, code: str) -> None:
        self._on_ticket(code)

    def _choose_lang(self, lang: str) -> None:
        self.set_lang(lang)
        self._on_lang(lang)

    def _toggle_large(self) -> None:
        self.set_large_text(not self.fonts.large)

    def _ask_help(self) -> None:
        self._dialog(
            "help",
            "help.confirm_title",
            ["help.confirm_body"],
            [
                Choice("help.confirm_yes", self._help_confirmed, "primary"),
                Choice("common.back", _nothing),
            ],
        )

    def _help_confirmed(self) -> None:
        self.help_state("sent")  # the service records the request before anything else
        self._callbacks["help"]()

    def _cancel_help(self) -> None:
        self.help_state("none")
        self._callbacks["help_cancel"]()

    def _ask_end(self) -> None:
        self._dialog(
            "end",
            "end.confirm_title",
            ["end.confirm_body"],
            [
                Choice("end.confirm_no", _nothing, "primary"),
                Choice("end.confirm_yes", self._callbacks["end"], "danger"),
            ],
        )

    def _still_here(self) -> None:
        self._idle_deadline = None
        self._callbacks["still_here"]()

    # -- helpers -----------------------------------------------------------------------------

    def _cover(self, focus: tk.Widget) -> None:
        w, h = self.root.winfo_screenwidth(), self.root.winfo_screenheight()
        self.root.geometry(f"{w}x{h}+0+0")
        self.root.attributes("-topmost", True)
        self.root.deiconify()
        self.root.lift()
        theme.focus_when_mapped(self.root, focus)

    def _leave_session(self) -> None:
        for kind in list(self.dialogs):
            self._close(kind)
        self._idle_deadline = None
        self.panel.hide()
        if self.mode == "session":
            self.help = "none"
            self.set_prints(0, None)
            if self.texts.lang != self.default_lang:
                self.set_lang(self.default_lang)
                self._on_lang(self.default_lang)

    def _dialog(self, kind: str, title: str, body: list[Part], choices: list[Choice]) -> Dialog:
        self._close(kind)
        live = sum(1 for d in self.dialogs.values() if d.exists())
        dialog = Dialog(
            self.root, self.texts, self.fonts, kind, title, body, choices,
            stack=live, avoid=self.panel.rect,
        )  # fmt: skip
        self.dialogs[kind] = dialog
        return dialog

    def _close(self, kind: str) -> None:
        dialog = self.dialogs.pop(kind, None)
        if dialog is not None:
            dialog.close()

    def _set_idle_left(self, seconds: int) -> None:
        self._idle_left = seconds
        dialog = self.dialogs.get("idle")
        if dialog is not None and dialog.exists():
            dialog.set_body(("idle.body", {"seconds": seconds}))

    def _sync_large(self) -> None:
        self.lock.set_large_label(self.fonts.large)
        self.panel.set_large_label(self.fonts.large)

    def _relayout(self) -> None:
        self.lock.relayout()
        if self.mode == "session":
            self.panel.relayout()
        for dialog in self.dialogs.values():
            if dialog.exists():
                dialog.relayout()
