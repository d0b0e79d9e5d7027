"""The lock screen holds the keyboard and the pointer, and keeps the focus.

While a lock-type screen shows (lock, closed, out of order, setup, cleaning) the full-screen
toplevel takes a global grab (Tk ``grab -global``: XGrabKeyboard and XGrabPointer on X11), so
no key (Alt+Tab, Alt+F4, Super, Ctrl+Alt+T) reaches the window manager or another program. A
grab another client holds makes it fail: it is tried again every tick (0.5 s), and after
``GRAB_FAIL_S`` the service hears ``escape`` grab_failed, once until a grab succeeds. Once a
second the lock also checks that the input focus is its own; if another program took it, the
lock raises itself, takes the focus back and the service hears ``escape`` focus_lost. The grab
is released when the session panel shows: the visitor must use the desktop.

On Windows (no X11) the grab is skipped: policies keep the visitor in there.
"""

from __future__ import annotations

import logging
import time
import tkinter as tk
from collections.abc import Callable

from agent.ui.xfocus import focus_is_ours, give_focus

log = logging.getLogger(__name__)

GRAB_FAIL_S = 3.0  # real seconds of failed grabs before the service hears of it
FOCUS_EVERY_S = 1.0


class Lockdown:
    def __init__(self, root: tk.Tk, escape: Callable[[str], None], *, now: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.escape = escape
        self.now = now
        self.x11 = root.tk.call("tk", "windowingsystem") == "x11"
        self.held = False
        self._failing_since: float | None = None
        self._reported_fail = False
        self._focus_at = 0.0

    def tick(self, locked: bool) -> None:
        """Every 0.5 s: hold the grab while ``locked``, release it otherwise."""
        if not locked:
            self.release()
            return
        if self.x11:
            self._grab()
        now = self.now()
        if now - self._focus_at >= FOCUS_EVERY_S:
            self._focus_at = now
            self._keep_focus()

    def _grab(self) -> None:
        if not self.root.winfo_viewable():
            return
        if self.held and self.root.grab_status() == "global":
            return
        try:
            self.root.grab_set_global()
        except tk.TclError as exc:  # another client holds the keyboard or the pointer
            self.held = False
            now = self.now()
            if self._failing_since is None:
                self._failing_since = now
                log.warning("lock screen: cannot grab the keyboard and pointer: %s", exc)
            if now - self._failing_since >= GRAB_FAIL_S and not self._reported_fail:
                self._reported_fail = True
                self.escape("grab_failed")
            return
        self.held = True
        self._failing_since = None
        self._reported_fail = False

    def _keep_focus(self) -> None:
        if not self.root.winfo_viewable():
            return
        if focus_is_ours(self.root):
            return
        log.warning("lock screen: another program took the focus; taking it back")
        self.root.attributes("-topmost", True)
        self.root.lift()
        if self.root.overrideredirect():
            give_focus(self.root)  # type: ignore[arg-type]  # Tk never focuses an override-redirect window itself
        else:
            self.root.focus_force()
        self.escape("focus_lost")

    def release(self) -> None:
        if self.held or self.root.grab_current() is not None:
            self.root.grab_release()
        self.held = False
        self._failing_since = None
        self._reported_fail = False
