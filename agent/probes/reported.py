"""Idle time reported by the session process (the only one that can see the visitor's input).

The agent service runs outside the visitor's desktop session: on X11 and on Windows only a
process inside that session can read input idleness. The session UI measures it and sends
``{"op": "idle", "seconds": N}`` over the control channel every few seconds; this source
answers with the last report plus the time since it came.

A report older than ``stale_after`` seconds means that no session process is talking to the
service (it crashed, or was never started): the visitor's idleness is then unknown, and
unknown counts as 0 so that a broken screen never ends a session for idleness.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ReportedIdle:
    """:class:`~agent.probes.base.IdleSource` fed by :meth:`report`.

    Idle time is real time (input does not run faster on a demo clock), hence the monotonic
    default for ``now``; tests inject their own.
    """

    def __init__(
        self, stale_after: float = 30.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self.stale_after = stale_after
        self._now = now
        self._value = 0.0
        self._at: float | None = None
        # why the session process cannot measure idleness (no X screensaver, no logind...):
        # a station problem, since idle sessions then never end
        self.problem: str | None = None

    def report_problem(self, detail: str) -> None:
        """The session process has no working idle probe; ``detail`` says why (for IT)."""
        self.problem = (detail or "no idle source").strip()[:200]
        self._at = None

    def report(self, seconds: float) -> None:
        """The session process measured ``seconds`` of input idleness just now."""
        self.problem = None
        if seconds != seconds or seconds < 0:  # NaN or negative: a broken probe, not a visitor
            seconds = 0.0
        self._value = float(seconds)
        self._at = self._now()

    def idle_seconds(self) -> float:
        if self._at is None:
            return 0.0
        since = self._now() - self._at
        if since > self.stale_after or since < 0:
            return 0.0
        return self._value + since

    @property
    def last_report_age(self) -> float | None:
        """Seconds since the last report, or None if none came."""
        return None if self._at is None else self._now() - self._at
