"""Pick the idle probe for this station from the ``[idle]`` configuration."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

from agent.probes.base import FakeIdle, IdleSource

SOURCES = ("auto", "x11", "windows", "logind", "fake")


def _get(config: Mapping[str, Any] | object, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


def auto_source(display: str | None = None, env: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """The probe for this desktop: Windows' GetLastInputInfo; on Linux by ``XDG_SESSION_TYPE``.

    A Wayland session has ``DISPLAY`` too (Xwayland), but the X11 counter there sees only
    input to X11 windows: a visitor typing in a Wayland app would be "idle". So Wayland
    (and a text console) reads logind's idle hint; X11 reads XScreenSaver. With no session
    type (a session started by hand), a display means X11, else logind.
    Raises ``RuntimeError`` when nothing here can measure idleness.
    """
    env = os.environ if env is None else env
    if (platform or sys.platform) == "win32":
        return "windows"
    kind = env.get("XDG_SESSION_TYPE", "").strip().lower()
    if kind in ("wayland", "tty", "mir"):
        if shutil.which("loginctl"):
            return "logind"
        raise RuntimeError(f"no idle source for a {kind} session: loginctl (systemd-logind) is missing")
    if kind == "x11" or display or env.get("DISPLAY"):
        return "x11"
    if shutil.which("loginctl"):
        return "logind"
    raise RuntimeError("no idle source here: not Windows, no X display, no loginctl")


def make_idle_source(config: Mapping[str, Any] | object) -> IdleSource:
    """An :class:`IdleSource` from a mapping (the TOML ``[idle]`` table) or an object.

    Keys: ``source`` (one of :data:`SOURCES`, default ``"auto"``: see
    :func:`auto_source`), ``display``
    (X11), ``session`` and ``user`` (logind), ``seconds`` (fake).
    Raises ``ValueError`` for an unknown source and ``RuntimeError`` (or the
    probe's own error) when the chosen probe cannot work here.
    """
    source = str(_get(config, "source", "auto") or "auto").lower()
    if source not in SOURCES:
        raise ValueError(f"unknown idle source {source!r}; expected one of {', '.join(SOURCES)}")
    display = _get(config, "display") or None
    if source == "auto":
        source = auto_source(display)
    if source == "fake":
        return FakeIdle(float(_get(config, "seconds", 0.0) or 0.0))
    if source == "windows":
        from agent.probes.idle_windows import WindowsIdle

        return WindowsIdle()
    if source == "x11":
        from agent.probes.idle_x11 import X11Idle

        return X11Idle(display)
    from agent.probes.idle_logind import LogindIdle

    return LogindIdle(str(_get(config, "session", "auto") or "auto"), _get(config, "user") or None)
