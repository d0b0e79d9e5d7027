"""The OS seams of the agent: idle time, print capture, session reset, health.

The agent core only ever talks to these protocols. Real implementations live
beside this module (``idle_x11``, ``idle_windows``, ``print_cups``, ``reset``,
``health`` ...); the fakes here serve the unit tests and the demo floor.
All methods are blocking and cheap; the agent calls them in an executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from espace.cupslog import PrintRecord  # one print job; shared with the print server's log reader
from espace.protocol import Health

__all__ = ["PrintRecord"]  # and the protocols and fakes below


@dataclass(frozen=True, slots=True)
class ResetReport:
    ok: bool
    files_removed: int = 0
    processes_ended: int = 0
    error: str = ""


class IdleSource(Protocol):
    def idle_seconds(self) -> float:
        """Seconds since the last keyboard or pointer input in the visitor's session."""


class PrintSource(Protocol):
    def poll(self) -> list[PrintRecord]:
        """Jobs finished since the previous call (each returned once)."""


class Resetter(Protocol):
    def reset(self) -> ResetReport:
        """End the visitor's processes and wipe their files; never raises."""


class HealthSource(Protocol):
    def read(self) -> Health:
        """CPU, memory, disk, uptime, battery."""


# ------------------------------------------------------------------ fakes


@dataclass
class FakeIdle:
    """Idle time set by the test or the demo's simulated visitor."""

    value: float = 0.0

    def idle_seconds(self) -> float:
        return self.value


@dataclass
class FakePrints:
    queued: list[PrintRecord] = field(default_factory=list)

    def add(self, record: PrintRecord) -> None:
        self.queued.append(record)

    def poll(self) -> list[PrintRecord]:
        out, self.queued = self.queued, []
        return out


@dataclass
class FakeResetter:
    ok: bool = True
    calls: int = 0

    def reset(self) -> ResetReport:
        self.calls += 1
        if not self.ok:
            return ResetReport(ok=False, error="fake wipe failure")
        return ResetReport(ok=True, files_removed=3, processes_ended=1)


@dataclass
class FakeHealth:
    health: Health = field(default_factory=lambda: Health(cpu_percent=3.0, mem_percent=40.0, disk_free_mb=20_000, uptime_s=3600))

    def read(self) -> Health:
        return self.health
