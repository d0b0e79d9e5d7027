"""Idle time on X11 through the MIT-SCREEN-SAVER extension (libXss via ctypes).

Runs in the session UI process, inside the visitor's X session. The display
is opened once and kept; :meth:`X11Idle.close` releases it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from types import TracebackType


class X11IdleError(RuntimeError):
    """No X display, no libX11/libXss, or no MIT-SCREEN-SAVER extension."""


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("eventMask", ctypes.c_ulong),
    ]


def _load(soname: str, short: str) -> ctypes.CDLL:
    for name in (soname, ctypes.util.find_library(short)):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise X11IdleError(
        f"cannot load {soname} (Debian: apt install {'libxss1' if short == 'Xss' else 'libx11-6'})"
    )


class X11Idle:
    """:class:`~agent.probes.base.IdleSource` reading ``XScreenSaverQueryInfo().idle``."""

    def __init__(self, display: str | None = None) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise X11IdleError("no X display: DISPLAY is not set and none was configured")
        self._x11 = _load("libX11.so.6", "X11")
        self._xss = _load("libXss.so.1", "Xss")
        x11, xss = self._x11, self._xss
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x11.XDefaultRootWindow.restype = ctypes.c_ulong
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        x11.XFree.argtypes = [ctypes.c_void_p]
        xss.XScreenSaverQueryExtension.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
        ]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.POINTER(_XScreenSaverInfo),
        ]
        xss.XScreenSaverQueryInfo.restype = ctypes.c_int
        self._lock = threading.Lock()  # Xlib is not thread-safe; the agent reads from an executor
        self._dpy: int | None = x11.XOpenDisplay(name.encode())
        if not self._dpy:
            raise X11IdleError(f"cannot open X display {name!r}")
        event, error = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(self._dpy, ctypes.byref(event), ctypes.byref(error)):
            self.close()
            raise X11IdleError(f"X display {name!r} has no MIT-SCREEN-SAVER extension")
        self._root = x11.XDefaultRootWindow(self._dpy)
        self._info = xss.XScreenSaverAllocInfo()
        self.display = name

    def idle_ms(self) -> int:
        """Milliseconds since the last keyboard or pointer input on the display."""
        with self._lock:
            if not self._dpy:
                raise X11IdleError("X display is closed")
            if not self._xss.XScreenSaverQueryInfo(self._dpy, self._root, self._info):
                raise X11IdleError(f"XScreenSaverQueryInfo failed on {self.display!r}")
            return int(self._info.contents.idle)

    def idle_seconds(self) -> float:
        return self.idle_ms() / 1000.0

    def close(self) -> None:
        with self._lock:
            info = getattr(self, "_info", None)
            if info:
                self._x11.XFree(info)
                self._info = None
            if self._dpy:
                self._x11.XCloseDisplay(self._dpy)
                self._dpy = None

    def __enter__(self) -> X11Idle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
