"""Idle time on Windows: ``GetLastInputInfo`` against ``GetTickCount64``.

``GetLastInputInfo`` only sees the input of the desktop session of the calling
process, so this probe runs in the session UI process, never in the service.
Its ``dwTime`` is a 32-bit tick count that wraps every 49.7 days; the
arithmetic lives in :func:`idle_ms_from_ticks`, testable on any OS.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

TICK_MASK = 0xFFFF_FFFF


def idle_ms_from_ticks(now_tick64: int, last_input_tick32: int) -> int:
    """Milliseconds between the last input and now, across 32-bit wrap-around.

    ``now_tick64`` is ``GetTickCount64()``; ``last_input_tick32`` is
    ``LASTINPUTINFO.dwTime`` (the low 32 bits of the tick count at the last
    input). Correct for idle times under 49.7 days.
    """
    if now_tick64 < 0 or not 0 <= last_input_tick32 <= TICK_MASK:
        raise ValueError("tick counts out of range")
    return ((now_tick64 & TICK_MASK) - last_input_tick32) & TICK_MASK


class InputTicks(Protocol):
    """The two Windows calls the probe makes (the OS seam)."""

    def last_input_tick(self) -> int:
        """``LASTINPUTINFO.dwTime`` from ``GetLastInputInfo`` (32 bits)."""
        ...

    def tick_count64(self) -> int:
        """``GetTickCount64()``."""
        ...


class User32Ticks:
    """:class:`InputTicks` through ctypes: user32's ``GetLastInputInfo``, kernel32's ``GetTickCount64``."""

    # Declared here: off Windows, type checkers see __init__'s body as unreachable.
    _user32: Any
    _kernel32: Any
    _info: Any
    _byref: Any
    _get_last_error: Any

    def __init__(self) -> None:
        if sys.platform != "win32":
            raise RuntimeError("WindowsIdle needs Windows (GetLastInputInfo)")
        import ctypes  # lazily: ctypes.windll exists only on Windows
        from ctypes import wintypes

        class LASTINPUTINFO(ctypes.Structure):
            _fields_ = [("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD)]

        win_dll: Any = getattr(ctypes, "WinDLL")  # noqa: B009 - absent from non-Windows stubs
        self._user32 = win_dll("user32", use_last_error=True)
        self._kernel32 = win_dll("kernel32", use_last_error=True)
        self._user32.GetLastInputInfo.argtypes = [ctypes.POINTER(LASTINPUTINFO)]
        self._user32.GetLastInputInfo.restype = wintypes.BOOL
        self._kernel32.GetTickCount64.argtypes = []
        self._kernel32.GetTickCount64.restype = ctypes.c_uint64
        self._info = LASTINPUTINFO()
        self._info.cbSize = ctypes.sizeof(LASTINPUTINFO)
        self._byref = ctypes.byref
        self._get_last_error = getattr(ctypes, "get_last_error")  # noqa: B009

    def last_input_tick(self) -> int:
        if not self._user32.GetLastInputInfo(self._byref(self._info)):
            raise OSError(f"GetLastInputInfo failed (error {self._get_last_error()})")
        return int(self._info.dwTime)

    def tick_count64(self) -> int:
        return int(self._kernel32.GetTickCount64())


class WindowsIdle:
    """:class:`~agent.probes.base.IdleSource` for the visitor's Windows session."""

    def __init__(self, ticks: InputTicks | None = None) -> None:
        self._ticks = ticks if ticks is not None else User32Ticks()

    def idle_seconds(self) -> float:
        last = self._ticks.last_input_tick()
        return idle_ms_from_ticks(self._ticks.tick_count64(), last) / 1000.0
