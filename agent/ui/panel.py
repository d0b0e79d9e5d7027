"""The countdown window shown during a session: small, always on top, movable by dragging,
and able to shrink to a thin bar so that it never hides what the visitor is working on."""

from __future__ import annotations

import math
import tkinter as tk
from collections.abc import Callable

from agent.ui import theme
from agent.ui.texts import At, Texts
from agent.ui.xfocus import give_focus

MARGIN = 16
TASKBAR = 56  # keep clear of a taskbar at the bottom of the screen
ENDING_SECONDS = 5 * 60  # the countdown turns yellow in the last five minutes


class Panel:
    def __init__(
        self,
        root: tk.Tk,
        texts: Texts,
        fonts: theme.Fonts,
        *,
        on_help: Callable[[], None],
        on_help_cancel: Callable[[], None],
        on_end: Callable[[], None],
        on_large_text: Callable[[], None],
    ) -> None:
        self._root = root
        self._texts = texts
        self._fonts = fonts
        self.compact = False
        self.end_ts = 0.0
        self._drag: tuple[int, int] | None = None
        self._anchor: tuple[int, int] | None = None  # bottom-right corner on screen

        self.window = top = tk.Toplevel(root, bg=theme.BG)
        top.withdraw()
        top.overrideredirect(True)
        top.attributes("-topmost", True)
        top.protocol("WM_DELETE_WINDOW", lambda: None)
        top.configure(
            highlightthickness=4, highlightbackground=theme.BORDER, highlightcolor=theme.BORDER
        )

        # The full panel.
        self.full = tk.Frame(top, bg=theme.BG, padx=14, pady=10)
        head = tk.Frame(self.full, bg=theme.BG, cursor="fleur")
        head.pack(fill="x")
        self.title = theme.label(head, fonts["small"], fg=theme.MUTED)
        self.title.pack(side="left")
        texts.bind(self.title, "session.title")
        self.drag_hint = theme.label(head, fonts["small"], fg=theme.MUTED)
        self.drag_hint.pack(side="left", padx=(10, 0))
        texts.bind(self.drag_hint, "session.drag_hint")
        self.shrink_button = theme.button(head, fonts["small"], self.shrink, padx=8, pady=2)
        self.shrink_button.pack(side="right")
        texts.bind(self.shrink_button, "session.shrink")
        self.time_left = tk.Label(
            self.full, font=fonts["clock"], fg=theme.FG, bg=theme.BG, padx=8, cursor="fleur"
        )
        self.time_left.pack(fill="x", pady=(8, 0))
        self.until = theme.label(self.full, fonts["body"])
        self.until.pack()
        self.prints = theme.label(self.full, fonts["small"])
        self.prints.pack(pady=(6, 0))
        self._help_slot = tk.Frame(self.full, bg=theme.BG)
        self._help_slot.pack(fill="x", pady=(10, 0))
        self.help_status = theme.label(self._help_slot, fonts["body"], fg=theme.PRIMARY_BG)
        self.help_button = theme.button(self._help_slot, fonts["button"], on_help, "primary")
        texts.bind(self.help_button, "session.help_button")
        self.help_cancel = theme.button(self._help_slot, fonts["button"], on_help_cancel)
        texts.bind(self.help_cancel, "help.cancel")
        self.help_button.pack(fill="x")
        self.end_button = theme.button(self.full, fonts["button"], on_end, "danger")
        texts.bind(self.end_button, "session.end_button", "session.end_note")
        self.large_button = theme.button(self.full, fonts["small"], on_large_text, padx=8, pady=4)
        self.end_button.pack(fill="x", pady=(10, 0))
        self.large_button.pack(pady=(10, 0))

        # The thin bar.
        self.bar = tk.Frame(top, bg=theme.BG, padx=6, pady=2, cursor="fleur")
        self.bar_time = tk.Label(
            self.bar, font=fonts["small"], fg=theme.FG, bg=theme.BG, padx=6, cursor="fleur"
        )
        self.bar_time.pack(side="left")
        self.expand_button = theme.button(self.bar, fonts["small"], self.expand, padx=8, pady=0)
        self.expand_button.pack(side="left", padx=(8, 0))
        texts.bind(self.expand_button, "session.expand")

        for handle in (
            head,
            self.title,
            self.drag_hint,
            self.time_left,
            self.until,
            self.bar,
            self.bar_time,
        ):
            handle.bind("<ButtonPress-1>", self._press)
            handle.bind("<B1-Motion>", self._motion)
        self.full.pack(fill="both", expand=True)
        # A click anywhere in the panel brings the keyboard to it (Tab, Enter, Space).
        top.bind("<ButtonPress-1>", self._claim_keyboard, add="+")

    def _claim_keyboard(self, event: tk.Event) -> None:  # type: ignore[type-arg]
        target = event.widget if isinstance(event.widget, tk.Button) else self.shrink_button
        if self.compact and target is self.shrink_button:
            target = self.expand_button
        if self.window.focus_displayof() is None:
            give_focus(target)

    # -- showing -----------------------------------------------------------------------------

    def show(self, end_ts: float, now_ts: float | None) -> None:
        self.end_ts = end_ts
        self._texts.bind(self.until, ("session.until", {"end": At(end_ts)}))
        self.tick(now_ts if now_ts is not None else end_ts)
        self.window.deiconify()
        self.relayout()

    def rect(self) -> tuple[int, int, int, int] | None:
        """Where the countdown is on screen, while it is shown."""
        if self.window.state() == "withdrawn":
            return None
        self.window.update_idletasks()
        w, h = self.window.winfo_reqwidth(), self.window.winfo_reqheight()
        right, bottom = self._anchor or (w, h)
        return (right - w, bottom - h, w, h)

    def hide(self) -> None:
        self.window.withdraw()

    def tick(self, now_ts: float) -> None:
        left = max(0.0, self.end_ts - now_ts)
        if left >= 60:
            part = ("session.time_left", {"minutes": math.ceil(left / 60)})
        else:
            part = ("session.time_left_seconds", {"seconds": math.ceil(left)})
        ending = left <= ENDING_SECONDS
        for widget in (self.time_left, self.bar_time):
            self._texts.bind(widget, part)
            widget.configure(
                bg=theme.WARN_BG if ending else theme.BG, fg="#000000" if ending else theme.FG
            )

    def set_prints(self, pages: int, quota: int | None) -> None:
        reached = quota is not None and pages >= quota
        self.prints.configure(fg=theme.PRIMARY_BG if reached else theme.FG)
        if quota is None:
            self._texts.bind(self.prints, ("prints.count", {"pages": pages}))
        elif pages >= quota:
            self._texts.bind(
                self.prints,
                ("prints.count_quota", {"pages": pages, "quota": quota}),
                "prints.quota_reached",
            )
        else:
            self._texts.bind(self.prints, ("prints.count_quota", {"pages": pages, "quota": quota}))
        self.relayout()

    def help_state(self, state: str) -> None:
        for widget in (self.help_status, self.help_button, self.help_cancel):
            widget.pack_forget()
        if state == "none":
            self.help_button.pack(fill="x")
        else:
            self._texts.bind(self.help_status, f"help.state.{state}")
            self.help_status.pack(fill="x")
            self.help_cancel.pack(fill="x", pady=(6, 0))
        self.relayout()

    def set_large_label(self, large: bool) -> None:
        self._texts.bind(
            self.large_button, "a11y.large_text_off" if large else "a11y.large_text_on"
        )

    # -- size and place ----------------------------------------------------------------------

    def shrink(self) -> None:
        self.compact = True
        self.full.pack_forget()
        self.bar.pack(fill="both", expand=True)
        self.relayout()
        self.expand_button.focus_set()

    def expand(self) -> None:
        self.compact = False
        self.bar.pack_forget()
        self.full.pack(fill="both", expand=True)
        self.relayout()
        self.shrink_button.focus_set()

    def relayout(self) -> None:
        """Fit the window to its content, keeping its bottom-right corner where it was."""
        wrap = 520 if self._fonts.large else 380
        for widget in (self.until, self.prints, self.help_status):
            widget.configure(wraplength=wrap)
        self.window.update_idletasks()
        w, h = self.window.winfo_reqwidth(), self.window.winfo_reqheight()
        sw, sh = self._root.winfo_screenwidth(), self._root.winfo_screenheight()
        right, bottom = self._anchor or (sw - MARGIN, sh - TASKBAR)
        self._place(right - w, bottom - h, w, h)

    def _place(self, x: int, y: int, w: int, h: int) -> None:
        sw, sh = self._root.winfo_screenwidth(), self._root.winfo_screenheight()
        x = min(max(0, x), max(0, sw - w))
        y = min(max(0, y), max(0, sh - h))
        self._anchor = (x + w, y + h)
        self.window.geometry(f"{w}x{h}+{x}+{y}")

    def _press(self, event: tk.Event) -> None:  # type: ignore[type-arg]
        self._drag = (
            event.x_root - self.window.winfo_rootx(),
            event.y_root - self.window.winfo_rooty(),
        )

    def _motion(self, event: tk.Event) -> None:  # type: ignore[type-arg]
        if self._drag is None:
            return
        dx, dy = self._drag
        w, h = self.window.winfo_width(), self.window.winfo_height()
        self._place(event.x_root - dx, event.y_root - dy, w, h)
