"""Small always-on-top dialogs during a session: warnings, the idle prompt, confirmations,
steward messages. Each is centred, bordered in yellow, and focuses its first button."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.ui import theme
from agent.ui.texts import Part, Texts

Rect = tuple[int, int, int, int]  # x, y, width, height on screen
GAP = 16


@dataclass(frozen=True, slots=True)
class Choice:
    msgid: str
    action: Callable[[], object]
    style: theme.Style = "secondary"


class Dialog:
    """A bordered, undecorated, topmost window; it cannot be closed except by its buttons."""

    def __init__(
        self,
        root: tk.Tk,
        texts: Texts,
        fonts: theme.Fonts,
        kind: str,
        title: Part,
        body: Sequence[Part],
        choices: Sequence[Choice],
        *,
        stack: int = 0,
        avoid: Callable[[], Rect | None] = lambda: None,
    ) -> None:
        self.kind = kind
        self._root = root
        self._texts = texts
        self._fonts = fonts
        self._stack = stack
        self._avoid = avoid
        self.window = top = tk.Toplevel(root, bg=theme.BG)
        top.overrideredirect(True)
        top.attributes("-topmost", True)
        top.protocol("WM_DELETE_WINDOW", lambda: None)
        top.configure(
            highlightthickness=6, highlightbackground=theme.BORDER, highlightcolor=theme.BORDER
        )
        inner = tk.Frame(top, bg=theme.BG, padx=28, pady=20)
        inner.pack(fill="both", expand=True)
        self.title = theme.label(inner, fonts["title"])
        self.title.pack(pady=(0, 12))
        texts.bind(self.title, title)
        self.body = theme.label(inner, fonts["body"])
        self.body.pack(pady=(0, 18))
        texts.bind(self.body, *body)
        row = tk.Frame(inner, bg=theme.BG)
        row.pack()
        self.buttons: dict[str, tk.Button] = {}
        for choice in choices:
            btn = theme.button(row, fonts["button"], self._chooser(choice), choice.style)
            btn.pack(side="left", padx=8)
            texts.bind(btn, choice.msgid)
            self.buttons[choice.msgid] = btn
        self.relayout()
        first = next(iter(self.buttons.values()), None)
        if first is not None:
            theme.focus_when_mapped(top, first)

    def _chooser(self, choice: Choice) -> Callable[[], None]:
        def choose() -> None:
            self.close()
            choice.action()

        return choose

    def set_body(self, *body: Part) -> None:
        self._texts.bind(self.body, *body)

    def relayout(self) -> None:
        """Wrap the body to the screen and centre the dialog (after a language or size change),
        clear of the countdown window; narrower if that is what it takes."""
        sw, sh = self._root.winfo_screenwidth(), self._root.winfo_screenheight()
        other = self._avoid()
        wraps = [min(sw - 160, 900 if self._fonts.large else 640)]
        if other is not None and other[0] > 360:
            wraps.append(other[0] - 2 * GAP - 100)  # the room left of the countdown
        for wrap in wraps:
            self.title.configure(wraplength=wrap)
            self.body.configure(wraplength=wrap)
            self.window.update_idletasks()
            w, h = self.window.winfo_reqwidth(), self.window.winfo_reqheight()
            offset = 30 * self._stack
            x = max(0, (sw - w) // 2 + offset)
            y = max(0, (sh - h) // 3 + offset)
            placed = _clear_of(other, x, y, w, h, sw, sh)
            if placed is not None:
                x, y = placed
                break
        self.window.geometry(f"{w}x{h}+{x}+{y}")

    def exists(self) -> bool:
        return bool(self.window.winfo_exists())

    def close(self) -> None:
        for widget in (self.title, self.body, *self.buttons.values()):
            self._texts.forget(widget)
        if self.window.winfo_exists():
            self.window.destroy()


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _clear_of(
    other: Rect | None, x: int, y: int, w: int, h: int, sw: int, sh: int
) -> tuple[int, int] | None:
    """Move a dialog at (x, y) off the countdown window, so that the time left stays visible:
    to its left, else above it, below it or to its right; ``None`` if nothing fits."""
    if other is None or not _overlap((x, y, w, h), other):
        return x, y
    ox, oy, ow, oh = other
    candidates = [
        (min(x, ox - w - GAP), y),  # to the left
        (x, oy - h - GAP),  # above
        (x, oy + oh + GAP),  # below
        (ox + ow + GAP, y),  # to the right
    ]
    for cx, cy in candidates:
        if 0 <= cx and cx + w <= sw and 0 <= cy and cy + h <= sh:
            if not _overlap((cx, cy, w, h), other):
                return cx, cy
    return None
