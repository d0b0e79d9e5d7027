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


def make_idle_source(config: Mapping[str, Any] | object) -> IdleSource:
    """An :class:`IdleSource` from a mapping (the TOML ``[idle]`` table) or an object.

    Keys: ``source`` (one of :data:`SOURCES`, default ``"auto"``: Windows,
    then X11 when ``DISPLAY`` or ``display`` is set, then logind), ``display``
    (X11), ``session`` and ``user`` (logind), ``seconds`` (fake).
    Raises ``ValueError`` for an unknown source and ``RuntimeError`` (or the
    probe's own error) when the chosen probe cannot work here.
    """
    source = str(_get(config, "source", "auto") or "auto").lower()
    if source not in SOURCES:
        raise ValueError(f"unknown idle source {source!r}; expected one of {', '.join(SOURCES)}")
    display = _get(config, "display") or None
    if source == "auto":
        if sys.platform == "win32":
            source = "windows"
        elif display or os.environ.get("DISPLAY"):
            source = "x11"
        elif shutil.which("loginctl"):
            source = "logind"
        else:
            raise RuntimeError("no idle source here: not Windows, no X display, no loginctl")
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
