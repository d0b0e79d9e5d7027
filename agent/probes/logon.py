"""Is the visitor account logged on, and ending its logon: the OS seam of :mod:`agent.screenwatch`.

* Linux (:class:`ProcessLogon`): the visitor is logged on while a process runs under the
  visitor account (psutil); ending the logon ends every one of them (the agent and its
  ancestors never), the way a reset does (:meth:`agent.probes.reset.WipeReset.end_processes`).
  The display manager's auto-login then opens a fresh desktop, and with it a fresh lock screen.
* Windows (:class:`WtsLogon`): the Terminal Services API (pywin32 ``win32ts``): a session whose
  user name is the visitor's is a logon; ``WTSLogoffSession`` ends it. Type-checked with
  ``mypy --platform win32``; not run on a Windows machine yet.
* :class:`FakeLogon` for tests.
"""

from __future__ import annotations

import logging
import sys
from typing import Protocol

log = logging.getLogger(__name__)


class LogonSource(Protocol):
    def logged_on(self) -> bool:
        """Is the visitor account logged on now?"""
        ...

    def end_logon(self) -> None:
        """End the visitor's logon (every program of the visitor's desktop)."""
        ...


class FakeLogon:
    """A logon the test switches on and off; ``ended`` counts the logons the watch ended."""

    def __init__(self, on: bool = True, *, relogon: bool = True) -> None:
        self.on = on
        self.relogon = relogon  # auto-login opens a new desktop at once
        self.ended = 0

    def logged_on(self) -> bool:
        return self.on

    def end_logon(self) -> None:
        self.ended += 1
        self.on = self.relogon


class ProcessLogon:
    """Linux: the visitor's processes are the logon; ending it ends them all."""

    def __init__(self, user: str, *, kill_timeout: float = 5.0) -> None:
        self.user = user
        self.kill_timeout = kill_timeout

    def logged_on(self) -> bool:
        import psutil

        from agent.probes.reset import user_matches

        for proc in psutil.process_iter():
            try:
                if user_matches(proc.username(), self.user) and proc.status() != psutil.STATUS_ZOMBIE:
                    return True
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return False

    def end_logon(self) -> None:
        from agent.probes.reset import end_processes, processes_of

        ended, left = end_processes(processes_of(self.user), self.kill_timeout)
        (log.warning if left else log.info)("logon of %s ended: %d processes ended, %d left", self.user, ended, left)


class WtsLogon:
    """Windows: the visitor's Terminal Services sessions (console or not) are its logons."""

    def __init__(self, user: str) -> None:
        self.user = user.rsplit("\\", 1)[-1].lower()

    def _sessions(self) -> list[int]:
        if sys.platform != "win32":
            raise RuntimeError("WTS sessions are a Windows API")
        import win32ts

        ids = []
        for s in win32ts.WTSEnumerateSessions(win32ts.WTS_CURRENT_SERVER_HANDLE, 1, 0):
            sid = int(s["SessionId"])
            name = win32ts.WTSQuerySessionInformation(win32ts.WTS_CURRENT_SERVER_HANDLE, sid, win32ts.WTSUserName)
            if str(name).lower() == self.user:
                ids.append(sid)
        return ids

    def logged_on(self) -> bool:
        return bool(self._sessions())

    def end_logon(self) -> None:
        if sys.platform != "win32":
            raise RuntimeError("WTS sessions are a Windows API")
        import win32ts

        for sid in self._sessions():
            win32ts.WTSLogoffSession(win32ts.WTS_CURRENT_SERVER_HANDLE, sid, False)


def logon_source(user: str, *, kill_timeout: float = 5.0) -> LogonSource:
    """The real seam of the platform this process runs on."""
    if sys.platform == "win32":
        return WtsLogon(user)
    return ProcessLogon(user, kill_timeout=kill_timeout)
