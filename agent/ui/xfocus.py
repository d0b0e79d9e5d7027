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


def x_focus(widget: tk.Misc) -> list[int] | None:
    """The X window that holds the input focus now and its ancestors (XGetInputFocus, XQueryTree), or None off X11."""
    if widget.tk.call("tk", "windowingsystem") != "x11":
        return None
    lib = _xlib()
    if lib is None:
        return None
    dpy = lib.XOpenDisplay(widget.winfo_screen().encode())
    if not dpy:
        return None
    try:
        focus, revert = ctypes.c_ulong(0), ctypes.c_int(0)
        lib.XGetInputFocus(ctypes.c_void_p(dpy), ctypes.byref(focus), ctypes.byref(revert))
        chain: list[int] = []
        window = focus.value
        while window > 1 and len(chain) < 32:  # 0: None, 1: PointerRoot
            chain.append(int(window))
            root, parent = ctypes.c_ulong(0), ctypes.c_ulong(0)
            children, count = ctypes.c_void_p(), ctypes.c_uint(0)
            ok = lib.XQueryTree(ctypes.c_void_p(dpy), ctypes.c_ulong(window), ctypes.byref(root), ctypes.byref(parent),
                                ctypes.byref(children), ctypes.byref(count))  # fmt: skip
            if children:
                lib.XFree(children)
            if not ok or parent.value == root.value:
                break
            window = parent.value
        return chain
    finally:
        lib.XCloseDisplay(dpy)


def focus_is_ours(top: tk.Tk | tk.Toplevel) -> bool:
    """Does ``top`` (its wrapper, or a window inside it) hold the X input focus?"""
    chain = x_focus(top)
    if chain is None:
        return top.focus_get() is not None
    return bool({top.winfo_id(), int(top.wm_frame(), 16)} & set(chain))
