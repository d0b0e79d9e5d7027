"""Holding the visitor's further print jobs once the session's quota is reached.

The page counts come from the print log after each job, so a job that
crosses the quota is printed whole; the gate stops the jobs after it. On
Linux the visitor's account is denied on the station's CUPS queues
(``lpadmin -p QUEUE -u deny:USER``) and allowed again at the reset; on
Windows the print queue's ACL would be the equivalent (not built: the gate
there only reports). The fake records calls for tests and the demo.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class PrintGate(Protocol):
    def hold(self) -> bool:
        """Refuse the visitor's further jobs; True if done."""

    def release(self) -> bool:
        """Accept jobs again (at the reset); True if done."""


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20, check=False)


@dataclass
class CupsPrintGate:
    user: str
    server: str | None = None  # host:port of the CUPS to administer; None: the local one
    run: Runner = _run

    def _queues(self) -> list[str]:
        out = self.run(["lpstat", *self._h(), "-p"])
        return [line.split()[1] for line in out.stdout.splitlines() if line.startswith("printer ")]

    def _h(self) -> list[str]:
        return ["-h", self.server] if self.server else []

    def _set(self, value: str) -> bool:
        if shutil.which("lpadmin") is None and self.run is _run:
            log.warning("print gate: lpadmin is not installed")
            return False
        ok = True
        for queue in self._queues():
            r = self.run(["lpadmin", *self._h(), "-p", queue, "-u", value])
            if r.returncode != 0:
                log.warning("print gate: lpadmin -p %s -u %s failed: %s", queue, value, r.stderr.strip())
                ok = False
        return ok

    def hold(self) -> bool:
        return self._set(f"deny:{self.user}")

    def release(self) -> bool:
        return self._set("allow:all")


@dataclass
class FakePrintGate:
    held: bool = False
    calls: list[str] = field(default_factory=list)

    def hold(self) -> bool:
        self.held = True
        self.calls.append("hold")
        return True

    def release(self) -> bool:
        self.held = False
        self.calls.append("release")
        return True
