"""Keyboard focus for undecorated windows on X11.

Tk never moves the X input focus to an override-redirect window (``focus -force`` skips
them on purpose, see ``TkpChangeFocus`` in ``tkUnixFocus.c``), and no window manager
focuses windows it does not manage. Yet the lock screen, the dialogs and the countdown must
be usable from the keyboard. So, on X11 only, this module asks the X server directly, over
a short-lived Xlib connection of its own, to focus the window. On Windows and macOS Tk's own
``focus_force`` works and this does nothing more.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tkinter as tk
from functools import cache

_REVERT_TO_PARENT = 2
_CURRENT_TIME = 0


@cache
def _xlib() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return lib


def give_focus(widget: tk.Widget) -> bool:
    """Focus ``widget`` inside its toplevel and the toplevel on the X server.

    Returns whether the X server was asked. The toplevel must be viewable (mapped), or X
    would answer with an error that ends the process; it is checked just before.
    """
    widget.focus_force()
    if widget.tk.call("tk", "windowingsystem") != "x11":
        return False
    top = widget.winfo_toplevel()
    if not top.winfo_viewable():
        return False
    lib = _xlib()
    if lib is None:
        return False
    top.update_idletasks()
    dpy = lib.XOpenDisplay(top.winfo_screen().encode())
    if not dpy:
        return False
    try:
        lib.XSetInputFocus(dpy, int(top.wm_frame(), 16), _REVERT_TO_PARENT, _CURRENT_TIME)
        lib.XSync(dpy, 0)
    finally:
        lib.XCloseDisplay(dpy)
    return True
