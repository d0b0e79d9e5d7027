"""No screen, no desktop: the service watches that the visitor's lock screen is there.

The lock screen is a program of the visitor's own desktop (:mod:`agent.ui.session_app`); a
visitor can kill it. The session UI announces itself on the control channel
(``{"op": "screen", ...}``, :mod:`agent.control`) and the service remembers that connection;
this watch, on the agent's clock, then holds three rules:

* the visitor is logged on and no screen has connected for ``grace_s`` (30 s): the logon is
  ended (:class:`agent.probes.logon.LogonSource`) and an ``escape_attempt`` screen_missing /
  logged_off is recorded. Auto-login opens a fresh desktop, with a fresh lock screen;
* the screen's connection closes while no session runs: after ``lost_grace_s`` (5 s: the
  session UI's link may be reconnecting) without it back, the logon is ended (screen_closed).
  A screen that closes with the station's own reset (which ends every program of the visitor)
  is no escape: the logon is over, and the next one gets ``grace_s`` for its screen;
* the screen goes away during a session: the session ends at once with reason "screen", by
  the agent's normal end path (which resets the station and so ends the visitor's programs),
  recorded as screen_closed_in_session / session_ended.

Why a lost screen ends the session instead of waiting for a new screen: the screen is the
visitor's own process, so killing it is a deliberate act; without it the visitor sees no
warning before the hard end; and a service running as root / SYSTEM cannot reliably start a
GUI inside the visitor's desktop on both OSes. The service enforces the end either way.

After ``MISSING_PROBLEM_AFTER`` screen_missing in a row with no screen ever connecting, the
watch goes on ending logons and also reports the station problem ``screen_wont_start`` in the
heartbeat, so the floor shows that IT must look (the session UI does not start at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from agent.probes.logon import LogonSource

log = logging.getLogger(__name__)

SCREEN_WONT_START = "screen_wont_start"
MISSING_PROBLEM_AFTER = 3
POLL_S = 1.0  # clock seconds between two looks


class ScreenWatch:
    def __init__(self, agent: Any, logon: LogonSource, *, grace_s: float = 30.0, lost_grace_s: float = 5.0) -> None:
        self.agent = agent
        self.logon = logon
        self.grace_s = grace_s
        self.lost_grace_s = lost_grace_s
        self.screen: object | None = None  # the connection that is the screen (a token from the channel)
        self.peer: dict[str, Any] = {}  # who it is: uid, pid where the channel tells
        self.state: str | None = None  # "lock" or "session", as the screen last said
        self.ever_connected = False
        self.missing_in_row = 0
        self._missing_since: float | None = None
        self._lost_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ the channel tells

    def screen_said(self, conn: object, state: str, peer: dict[str, Any] | None = None) -> None:
        """A connection says it is the screen (on connecting, and on every lock/session switch)."""
        if self.screen is not conn:
            log.info("screen connected %s", peer or {})
        self.screen, self.state, self.peer = conn, state, dict(peer or {})
        self.ever_connected = True
        self.missing_in_row = 0
        self._missing_since = self._lost_at = None
        self.agent.set_station_problem(SCREEN_WONT_START, None)

    async def connection_closed(self, conn: object) -> None:
        """A control connection closed; if it was the screen, the rules above start."""
        if conn is not self.screen:
            return
        self.screen = None
        session = self.agent.session
        if session is not None:
            sid = session.session_id
            log.warning("the screen went away during session %s: ending it", sid)
            await self.agent.report_escape("screen_closed_in_session", "session_ended", sid)
            await self.agent.end_session("screen")
            return
        now = self.agent.clock.now()
        last_reset = getattr(self.agent, "last_reset_at", None)
        if getattr(self.agent, "resetting", False) or (last_reset is not None and now - last_reset < self.lost_grace_s):
            # the reset ended the visitor's programs, the screen with them: the logon is over, and
            # the next one (auto-login) gets the whole grace for its own screen
            log.info("the screen closed with the reset's log-off")
            self._missing_since = now
            return
        self._lost_at = now

    # ------------------------------------------------------------ the rules

    async def check(self) -> None:
        """One look: end the logon if a rule says so."""
        now = self.agent.clock.now()
        if self.screen is not None:
            self._missing_since = None
            return
        loop = asyncio.get_running_loop()
        if self._lost_at is not None:
            if now - self._lost_at < self.lost_grace_s:
                return
            self._lost_at = None
            self._missing_since = None
            if self.agent.session is None and await loop.run_in_executor(None, self.logon.logged_on):
                log.warning("the screen closed and did not come back: ending the visitor's logon")
                await loop.run_in_executor(None, self.logon.end_logon)
                await self.agent.report_escape("screen_closed", "logged_off")
            return
        if not await loop.run_in_executor(None, self.logon.logged_on):
            self._missing_since = None
            return
        if self._missing_since is None:
            self._missing_since = now
            return
        if now - self._missing_since < self.grace_s:
            return
        self._missing_since = None
        log.warning("the visitor is logged on and no screen came for %.0f s: ending the logon", self.grace_s)
        if self.agent.session is not None:  # a session without a screen (the service restarted, say)
            sid = self.agent.session.session_id
            await self.agent.report_escape("screen_missing", "session_ended", sid)
            await self.agent.end_session("screen")
        await loop.run_in_executor(None, self.logon.end_logon)
        await self.agent.report_escape("screen_missing", "logged_off")
        if not self.ever_connected:
            self.missing_in_row += 1
            if self.missing_in_row >= MISSING_PROBLEM_AFTER:
                self.agent.set_station_problem(SCREEN_WONT_START, f"{self.missing_in_row} logons ended: no lock screen came")

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watch outlives one failed look
                log.exception("screen watch: a look failed")
            await self.agent.clock.sleep(POLL_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="screen-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
