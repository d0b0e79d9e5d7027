"""Station health with psutil, read on every heartbeat: cheap, non-blocking."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import psutil

from espace.protocol import Health


class BatteryState(Protocol):
    """What psutil's ``sensors_battery()`` returns (its ``sbattery`` tuple)."""

    @property
    def percent(self) -> float: ...
    @property
    def power_plugged(self) -> bool | None: ...


BatteryReader = Callable[[], BatteryState | None]


def _read_battery() -> BatteryState | None:
    sensors = getattr(psutil, "sensors_battery", None)  # absent on some platforms
    if sensors is None:
        return None
    try:
        return sensors()
    except (OSError, RuntimeError):
        return None


class PsutilHealth:
    """:class:`~agent.probes.base.HealthSource` for a PC or a Windows tablet.

    ``disk_path`` is the file system whose free space is reported (the
    visitor's home, or the system drive). A station without a battery at
    start-up is never asked again (PCs); ``battery`` overrides the seam.
    """

    def __init__(
        self, disk_path: Path | str = "/", *, battery: BatteryReader = _read_battery
    ) -> None:
        self.disk_path = str(disk_path)
        self._battery = battery
        self._has_battery = battery() is not None
        self._boot = psutil.boot_time()
        psutil.cpu_percent(interval=None)  # the first non-blocking read only primes the counters

    def read(self) -> Health:
        cpu = psutil.cpu_percent(interval=None)
        mem = psutil.virtual_memory().percent
        free_mb = psutil.disk_usage(self.disk_path).free // (1024 * 1024)
        uptime = max(0, int(time.time() - self._boot))
        percent: float | None = None
        plugged: bool | None = None
        if self._has_battery:
            bat = self._battery()
            if bat is not None:
                percent = min(100.0, max(0.0, float(bat.percent)))
                plugged = bat.power_plugged
        return Health(
            cpu_percent=min(100.0, max(0.0, cpu)),
            mem_percent=min(100.0, max(0.0, mem)),
            disk_free_mb=int(free_mb),
            uptime_s=uptime,
            battery_percent=percent,
            plugged=plugged,
        )
