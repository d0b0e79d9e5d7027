"""Idle time from systemd-logind's ``IdleHint`` where there is no X server.

logind's idle hint is coarse: a text console counts as idle only after a few
minutes without input, and a graphical session only when its desktop sets
the hint. Before that the probe reads 0 seconds, which never ends a session
early. Parsing is a pure function; ``loginctl`` runs through a seam.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence

Runner = Callable[[Sequence[str]], str]
USEC = 1_000_000


class LogindIdleError(RuntimeError):
    """loginctl failed, or its output did not hold the idle hint."""


def _properties(output: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            props[key] = value
    return props


def parse_idle_hint(
    output: str, now_monotonic_us: int, now_realtime_us: int | None = None
) -> float:
    """Idle seconds from ``loginctl show-session -p IdleHint -p IdleSinceHint...`` output.

    ``IdleSinceHintMonotonic`` is CLOCK_MONOTONIC in microseconds; when it is
    absent or 0, ``IdleSinceHint`` (wall clock) is used with ``now_realtime_us``.
    Not idle, or idle since an unknown instant, reads as 0.
    """
    props = _properties(output)
    hint = props.get("IdleHint")
    if hint not in ("yes", "no"):
        raise LogindIdleError(f"no IdleHint in loginctl output: {output.strip()[:200]!r}")
    if hint == "no":
        return 0.0
    try:
        since_mono = int(props.get("IdleSinceHintMonotonic", "0") or 0)
        since_real = int(props.get("IdleSinceHint", "0") or 0)
    except ValueError as exc:
        raise LogindIdleError(f"bad idle timestamp in loginctl output: {exc}") from exc
    if since_mono > 0:
        return max(0, now_monotonic_us - since_mono) / USEC
    if since_real > 0 and now_realtime_us is not None:
        return max(0, now_realtime_us - since_real) / USEC
    return 0.0


def pick_session(list_output: str, user: str) -> str | None:
    """The id of ``user``'s session in ``loginctl list-sessions --no-legend`` output.

    Columns are ``SESSION UID USER SEAT TTY``; a session with a seat (a local
    screen) wins over a remote one.
    """
    found: list[tuple[bool, str]] = []
    for line in list_output.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[2] == user:
            seat = len(cols) >= 4 and cols[3].startswith("seat")
            found.append((seat, cols[0]))
    if not found:
        return None
    found.sort(key=lambda item: not item[0])
    return found[0][1]


def run_loginctl(args: Sequence[str]) -> str:
    """Run loginctl and return its stdout; a failure raises :class:`LogindIdleError`."""
    try:
        done = subprocess.run(
            ["loginctl", *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LogindIdleError(f"loginctl could not run: {exc}") from exc
    if done.returncode != 0:
        raise LogindIdleError(
            f"loginctl {' '.join(args)} failed: {done.stderr.strip() or done.returncode}"
        )
    return done.stdout


def _monotonic_us() -> int:
    return time.monotonic_ns() // 1000  # CLOCK_MONOTONIC on Linux, as logind's IdleSinceHintMonotonic


class LogindIdle:
    """:class:`~agent.probes.base.IdleSource` reading a logind session's idle hint.

    ``session`` is a session id or ``"auto"`` (the caller's own session);
    with ``user`` set, that user's session is looked up on every read, since
    it changes at each log-on.
    """

    def __init__(
        self,
        session: str = "auto",
        user: str | None = None,
        *,
        run: Runner = run_loginctl,
        monotonic_us: Callable[[], int] = _monotonic_us,
        realtime_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.session = session
        self.user = user
        self._run = run
        self._monotonic_us = monotonic_us
        self._realtime_us = realtime_us

    def _session_id(self) -> str | None:
        if self.user is None:
            return self.session
        return pick_session(self._run(["list-sessions", "--no-legend"]), self.user)

    def idle_seconds(self) -> float:
        session = self._session_id()
        if session is None:
            return 0.0  # nobody logged on: nothing to time out
        out = self._run(
            [
                "show-session",
                session,
                "-p",
                "IdleHint",
                "-p",
                "IdleSinceHint",
                "-p",
                "IdleSinceHintMonotonic",
            ]
        )
        return parse_idle_hint(out, self._monotonic_us(), self._realtime_us())
