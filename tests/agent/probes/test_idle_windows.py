"""The 32-bit tick wrap-around of GetLastInputInfo, on any OS."""

from __future__ import annotations

import sys

import pytest

from agent.probes.idle_windows import TICK_MASK, WindowsIdle, idle_ms_from_ticks


def test_plain_difference_without_wrap() -> None:
    assert idle_ms_from_ticks(10_000, 7_500) == 2_500


def test_no_input_since_now_is_zero() -> None:
    assert idle_ms_from_ticks(123_456, 123_456) == 0


def test_tick64_beyond_32_bits_uses_low_word() -> None:
    # 60 days of uptime: GetTickCount64 is past 2**32, dwTime is its low word.
    last_input_64 = 60 * 86_400_000
    now_64 = last_input_64 + 90_000
    assert idle_ms_from_ticks(now_64, last_input_64 & TICK_MASK) == 90_000


def test_wrap_between_last_input_and_now() -> None:
    # Last input 1 s before the 32-bit counter wrapped, now 2 s after it.
    last_input = TICK_MASK - 999
    now_64 = (1 << 32) + 2_000
    assert idle_ms_from_ticks(now_64, last_input) == 3_000


def test_wrap_of_the_second_epoch() -> None:
    now_64 = (3 << 32) + 500
    last_input = ((3 << 32) - 1_500) & TICK_MASK
    assert idle_ms_from_ticks(now_64, last_input) == 2_000


@pytest.mark.parametrize(("now", "last"), [(-1, 0), (0, -1), (0, 1 << 32)])
def test_out_of_range_ticks_are_refused(now: int, last: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        idle_ms_from_ticks(now, last)


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal off Windows")
def test_refuses_to_start_off_windows() -> None:
    with pytest.raises(RuntimeError, match="needs Windows"):
        WindowsIdle()


@pytest.mark.skipif(sys.platform != "win32", reason="needs Windows")
def test_reads_a_real_idle_time_on_windows() -> None:
    assert WindowsIdle().idle_seconds() >= 0


class FakeTicks:
    """GetLastInputInfo and GetTickCount64 of a PC up for 60 days, its counter past 2**32."""

    def __init__(self) -> None:
        self.now = 60 * 86_400_000
        self.last = self.now

    def last_input_tick(self) -> int:
        return self.last & TICK_MASK

    def tick_count64(self) -> int:
        return self.now


def test_the_probe_reads_the_visitors_idle_time_at_its_seam() -> None:
    ticks = FakeTicks()
    idle = WindowsIdle(ticks)
    assert idle.idle_seconds() == 0
    ticks.now += 754_250  # 12 min 34.25 s without input
    assert idle.idle_seconds() == 754.25
    ticks.last = ticks.now  # a key pressed
    assert idle.idle_seconds() == 0


def test_idle_auto_on_windows_is_get_last_input_info(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.probes.idle as idle_module
    import agent.probes.idle_windows as idle_windows

    monkeypatch.setattr(idle_module.sys, "platform", "win32")
    monkeypatch.setattr(idle_windows, "User32Ticks", FakeTicks)
    monkeypatch.setenv("DISPLAY", ":0")  # an X display does not win over Windows
    source = idle_module.make_idle_source({"source": "auto"})
    assert isinstance(source, WindowsIdle)
    assert source.idle_seconds() == 0
    assert isinstance(idle_module.make_idle_source({"source": "windows"}), WindowsIdle)
