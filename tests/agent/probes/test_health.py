"""PsutilHealth against this machine's real counters."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import msgspec
import psutil
import pytest

from agent.probes.health import PsutilHealth
from espace.protocol import Health


def test_real_values_are_sane(tmp_path: Path) -> None:
    health = PsutilHealth(tmp_path).read()
    assert 0.0 <= health.cpu_percent <= 100.0
    assert 0.0 < health.mem_percent <= 100.0
    free = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    assert abs(health.disk_free_mb - free) <= 1024  # others write to the disk meanwhile
    assert health.uptime_s == pytest.approx(time.time() - psutil.boot_time(), abs=5)
    # What goes on the wire passes the protocol's own validation.
    assert msgspec.json.decode(msgspec.json.encode(health), type=Health) == health


def test_cpu_is_measured_between_reads() -> None:
    probe = PsutilHealth()
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:  # keep a core busy between two reads
        sum(range(1000))
    assert probe.read().cpu_percent > 0.0


def test_no_battery_reads_none_and_is_not_asked_again() -> None:
    asked: list[int] = []

    def no_battery() -> None:
        asked.append(1)

    probe = PsutilHealth(battery=no_battery)
    health = probe.read()
    probe.read()
    assert (health.battery_percent, health.plugged) == (None, None)
    assert len(asked) == 1


def test_battery_of_a_tablet_is_reported() -> None:
    battery = SimpleNamespace(percent=57.3, secsleft=3600, power_plugged=False)
    health = PsutilHealth(battery=lambda: battery).read()
    assert (health.battery_percent, health.plugged) == (57.3, False)


def test_this_machine_without_battery_reads_none() -> None:
    if psutil.sensors_battery() is not None:
        pytest.skip("this machine has a battery")
    health = PsutilHealth().read()
    assert health.battery_percent is None
    assert health.plugged is None


def test_missing_disk_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PsutilHealth(tmp_path / "gone").read()
