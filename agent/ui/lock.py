"""The full-screen lock window's content: the language choice, the welcome with the charter
and "start my session" (or the queue-ticket field), and the closed / out of order / being
cleaned notices."""

from __future__ import annotations

import functools
import tkinter as tk
from collections.abc import Callable, Sequence
from typing import Any

from agent.ui import theme
from agent.ui.texts import At, Part, Texts
from espace.i18n import LANGS

TICKET_MAX = 12


def offer_part(offer: dict[str, Any]) -> Part:
    """The line under "start my session": until when, and why it ends then.

    ``offer`` is ``{"end_ts", "cause", "label"}`` (cause as in the protocol's Grant:
    ``length``, ``closing``, ``booking``); an optional ``"at_ts"`` is when the closing or the
    booking happens, when it differs from the end of the session.
    """
    end = At(float(offer["end_ts"]))
    at = At(float(offer.get("at_ts") or offer["end_ts"]))
    cause = offer.get("cause") or "length"
    label = (offer.get("label") or "").strip()
    same = end == at  # the session ends right when the space closes or the booking starts
    if cause == "closing":
        if same:
            return ("lock.offer.closing_end", {"end": end})
        return ("lock.offer.closing", {"end": end, "at": at})
    if cause == "booking":
        if label:
            return ("lock.offer.booking_label", {"end": end, "at": at, "label": label})
        if same:
            return ("lock.offer.booking_end", {"end": end})
        return ("lock.offer.booking", {"end": end, "at": at})
    return ("lock.offer.length", {"end": end})


class LockScreen:
    def __init__(
        self,
        root: tk.Tk,
        texts: Texts,
        fonts: theme.Fonts,
        *,
        on_start: Callable[[], None],
        on_ticket: Callable[[str], None],
        on_lang: Callable[[str], None],
        on_large_text: Callable[[], None],
    ) -> None:
        self._root = root
        self._texts = texts
        self._fonts = fonts
        self._on_ticket = on_ticket

        top = tk.Frame(root, bg=theme.BG, padx=24, pady=18)
        top.pack(side="top", fill="x")
        self.large_button = theme.button(top, fonts["button"], on_large_text)
        self.large_button.pack(side="left")
        self.lang_buttons: dict[str, tk.Button] = {}
        for lang in reversed(LANGS):
            btn = theme.button(top, fonts["button"], functools.partial(on_lang, lang), "lang")
            btn.pack(side="right", padx=(10, 0))
            texts.bind(btn, f"lang.{lang}")
            self.lang_buttons[lang] = btn
        self.lang_label = theme.label(top, fonts["body"])
        self.lang_label.pack(side="right", padx=(0, 8))
        texts.bind(self.lang_label, "lang.choose")

        # The welcome: charter, start button or ticket field, status line.
        self.welcome = tk.Frame(root, bg=theme.BG)
        body = tk.Frame(self.welcome, bg=theme.BG)
        body.pack(expand=True)  # centred in the space below the language bar
        self.app_name = theme.label(body, fonts["body"], fg=theme.MUTED)
        self.app_name.pack(pady=(0, 6))
        texts.bind(self.app_name, "app.name")
        self.title = theme.label(body, fonts["title"])
        self.title.pack(pady=(0, 24))
        texts.bind(self.title, "lock.welcome")
        self.charter = theme.label(body, fonts["body"])
        self.charter.pack(pady=(0, 36))
        texts.bind(self.charter, "lock.charter_1", "lock.charter_2")
        self.start_button = theme.button(
            body, fonts["start"], on_start, "primary", padx=48, pady=24
        )
        self.unavailable = theme.label(body, fonts["body"], fg=theme.PRIMARY_BG)
        texts.bind(self.unavailable, "lock.unavailable")
        self.ticket = tk.Frame(body, bg=theme.BG)
        self.ticket_intro = theme.label(self.ticket, fonts["body"])
        self.ticket_intro.pack(pady=(0, 10))
        texts.bind(self.ticket_intro, "lock.ticket_intro", "lock.ticket_label")
        row = tk.Frame(self.ticket, bg=theme.BG)
        row.pack()
        self.ticket_entry = tk.Entry(
            row,
            font=fonts["start"],
            width=8,
            justify="center",
            bg="#ffffff",
            fg="#000000",
            insertbackground="#000000",
            insertwidth=4,
            relief="flat",
            highlightthickness=5,
            highlightcolor=theme.FOCUS,
            highlightbackground=theme.BG,
        )
        self.ticket_entry.pack(side="left", padx=(0, 12), ipady=8)
        self.ticket_entry.bind("<Return>", lambda _e: self._submit_ticket())
        self.ticket_entry.bind("<KP_Enter>", lambda _e: self._submit_ticket())
        self.ticket_button = theme.button(
            row, fonts["button"], self._submit_ticket, "primary", padx=24, pady=16
        )
        self.ticket_button.pack(side="left")
        texts.bind(self.ticket_button, "lock.ticket_button")
        self.status = theme.label(body, fonts["body"], fg=theme.PRIMARY_BG)
        self.status.pack(side="bottom", pady=(24, 0))

        # A notice: closed, out of order, being cleaned.
        self.notice = tk.Frame(root, bg=theme.BG)
        box = tk.Frame(self.notice, bg=theme.BG)
        box.pack(expand=True)
        self.notice_title = theme.label(box, fonts["title"])
        self.notice_title.pack(pady=(0, 24))
        self.notice_body = theme.label(box, fonts["body"])
        self.notice_body.pack()
        self.notice_extra = theme.label(box, fonts["body"], fg=theme.PRIMARY_BG)
        self.notice_extra.pack(pady=(24, 0))

    # -- screens -------------------------------------------------------------------------

    def show_welcome(self, offer: dict[str, Any] | None, ticket_mode: bool) -> tk.Widget:
        """Show the welcome; return the widget that should get the keyboard focus."""
        self.notice.pack_forget()
        for widget in (self.start_button, self.unavailable, self.ticket):
            widget.pack_forget()
        self.set_status(None)
        if ticket_mode:
            self.ticket_entry.delete(0, "end")
            self.ticket.pack()
            focus: tk.Widget = self.ticket_entry
        elif offer is not None:
            self._texts.bind(self.start_button, "lock.start_button", offer_part(offer))
            self.start_button.configure(state="normal")
            self.start_button.pack()
            focus = self.start_button
        else:
            self.unavailable.pack()
            focus = self.lang_buttons[self._texts.lang]
        self.welcome.pack(expand=True, fill="both")
        self.relayout()
        return focus

    def show_notice(
        self, title: str, body: Sequence[Part], extra: Sequence[Part] = ()
    ) -> tk.Widget:
        self.welcome.pack_forget()
        self._texts.bind(self.notice_title, title)
        self._texts.bind(self.notice_body, *body)
        self._texts.bind(self.notice_extra, *extra)
        self.notice.pack(expand=True, fill="both")
        self.relayout()
        return self.lang_buttons[self._texts.lang]

    def starting(self) -> None:
        """After a press on "start": wait for the grant without a second press."""
        self.start_button.configure(state="disabled")
        self.set_status("lock.starting")

    def set_status(self, part: Part | None) -> None:
        if part is None:
            self._texts.bind(self.status)
        else:
            self._texts.bind(self.status, part)

    def refused(self, reason: str) -> None:
        self.start_button.configure(state="normal")
        self.set_status(f"refuse.{reason}")
        if self.ticket.winfo_ismapped():
            self.ticket_entry.select_range(0, "end")
            self.ticket_entry.focus_set()

    def select_lang(self, lang: str) -> None:
        for code, btn in self.lang_buttons.items():
            theme.select(btn, code == lang)

    def set_large_label(self, large: bool) -> None:
        self._texts.bind(
            self.large_button, "a11y.large_text_off" if large else "a11y.large_text_on"
        )

    def relayout(self) -> None:
        wrap = min(self._root.winfo_screenwidth() - 120, 1100)
        for widget in (
            self.charter,
            self.unavailable,
            self.ticket_intro,
            self.status,
            self.notice_title,
            self.notice_body,
            self.notice_extra,
            self.title,
        ):
            widget.configure(wraplength=wrap)
        self.start_button.configure(wraplength=wrap - 100)

    def _submit_ticket(self) -> None:
        code = self.ticket_entry.get().strip()[:TICKET_MAX]
        if code:
            self.set_status("lock.starting")
            self._on_ticket(code)
        else:
            self.ticket_entry.focus_set()
