"""High-contrast look of the station screens: colours, named fonts, focus ring, widget makers.

Every font is a named Tk font, so the large-text option resizes every widget at once.
Buttons take focus with Tab, show a thick focus ring, and fire on Enter as well as Space.
"""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from typing import Literal

from agent.ui.xfocus import give_focus

BG = "#000000"
FG = "#ffffff"
MUTED = "#d0d0d0"  # still 13:1 on black
FOCUS = "#00e5ff"  # the focus ring: cyan, visible on black, yellow and white
PRIMARY_BG = "#ffd400"  # black on yellow: the main action of a screen
PRIMARY_ACTIVE = "#ffe866"
SECONDARY_BG = "#ffffff"
SECONDARY_ACTIVE = "#dddddd"
DANGER_BG = "#ff9a9a"  # black on light red: ending and erasing
DANGER_ACTIVE = "#ffc0c0"
SELECTED_BG = "#ffd400"
WARN_BG = "#ffd400"  # the countdown in its last minutes: black on yellow
BORDER = "#ffd400"

Style = Literal["primary", "secondary", "danger", "lang"]
_STYLES: dict[str, tuple[str, str]] = {
    "primary": (PRIMARY_BG, PRIMARY_ACTIVE),
    "secondary": (SECONDARY_BG, SECONDARY_ACTIVE),
    "danger": (DANGER_BG, DANGER_ACTIVE),
    "lang": (SECONDARY_BG, SECONDARY_ACTIVE),
}

FAMILY = "DejaVu Sans"
# name -> (normal size, large size, bold); negative sizes are pixels, the same on every screen.
_FONTS: dict[str, tuple[int, int, bool]] = {
    "small": (-16, -22, False),
    "body": (-20, -28, False),
    "button": (-20, -28, True),
    "title": (-34, -46, True),
    "start": (-32, -42, True),
    "clock": (-26, -36, True),
}


class Fonts:
    """The named fonts of one Tk interpreter, in normal or large size."""

    def __init__(self, root: tk.Misc) -> None:
        family = FAMILY if FAMILY in tkfont.families(root) else "TkDefaultFont"
        self.large = False
        self._fonts: dict[str, tkfont.Font] = {}
        for name, (size, _, bold) in _FONTS.items():
            self._fonts[name] = tkfont.Font(
                root=root,
                name=f"espace-{name}",
                family=family,
                size=size,
                weight="bold" if bold else "normal",
                exists=False,
            )

    def __getitem__(self, name: str) -> tkfont.Font:
        return self._fonts[name]

    def set_large(self, large: bool) -> None:
        self.large = large
        for name, (normal, big, _) in _FONTS.items():
            self._fonts[name].configure(size=big if large else normal)


def label(parent: tk.Misc, font: tkfont.Font, *, fg: str = FG, wrap: int = 0) -> tk.Label:
    return tk.Label(
        parent, font=font, fg=fg, bg=BG, wraplength=wrap, justify="center", anchor="center"
    )


def button(
    parent: tk.Misc,
    font: tkfont.Font,
    command: Callable[[], object],
    style: Style = "secondary",
    *,
    padx: int = 18,
    pady: int = 10,
) -> tk.Button:
    bg, active = _STYLES[style]
    widget = tk.Button(
        parent,
        font=font,
        command=command,
        bg=bg,
        fg="#000000",
        activebackground=active,
        activeforeground="#000000",
        disabledforeground="#555555",
        relief="flat",
        bd=0,
        padx=padx,
        pady=pady,
        cursor="hand2",
        takefocus=1,
        highlightthickness=5,
        highlightcolor=FOCUS,
        highlightbackground=BG,
    )
    activate_on_enter(widget)
    return widget


def activate_on_enter(widget: tk.Button) -> None:
    """Enter (and the keypad's Enter) press the focused button, like Space does in Tk."""

    def press(_event: tk.Event) -> str:  # type: ignore[type-arg]
        if str(widget.cget("state")) != "disabled":
            widget.invoke()
        return "break"

    widget.bind("<Return>", press)
    widget.bind("<KP_Enter>", press)


def select(widget: tk.Button, selected: bool) -> None:
    """Mark a language button as the current choice (yellow, sunken) or not."""
    widget.configure(
        bg=SELECTED_BG if selected else SECONDARY_BG,
        activebackground=PRIMARY_ACTIVE if selected else SECONDARY_ACTIVE,
        relief="solid" if selected else "flat",
        bd=3 if selected else 0,
    )


def focus_when_mapped(window: tk.Misc, widget: tk.Widget) -> None:
    """Give ``widget`` the keyboard focus once ``window`` is on screen.

    X refuses the focus to a window that is not mapped yet, so forcing it right after
    ``deiconify`` (or creating a dialog) would silently do nothing.
    """
    if window.winfo_viewable():
        give_focus(widget)
        return

    def on_map(event: tk.Event) -> None:  # type: ignore[type-arg]
        if event.widget is window:
            window.unbind("<Map>", funcid)
            if widget.winfo_exists():
                give_focus(widget)

    funcid = window.bind("<Map>", on_map, add="+")
