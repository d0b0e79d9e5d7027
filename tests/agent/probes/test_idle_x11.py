"""The X11 idle probe against a real Xvfb, with input sent by xdotool."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from agent.probes.idle_x11 import X11Idle, X11IdleError
from tests.support.display import XVFB, xvfb

pytestmark = pytest.mark.skipif(
    XVFB is None or shutil.which("xdotool") is None, reason="needs Xvfb and xdotool"
)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as name:
        yield name


def _poll(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _move(display: str, x: int, y: int) -> None:
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y)],
        check=True,
        env={**os.environ, "DISPLAY": display},
        timeout=10,
    )


def test_idle_grows_without_input(display: str) -> None:
    with X11Idle(display) as probe:
        first = probe.idle_ms()
        assert first >= 0
        assert _poll(lambda: probe.idle_ms() > first), "idle time did not grow"
        assert probe.idle_seconds() >= first / 1000.0


def test_input_resets_idle(display: str) -> None:
    with X11Idle(display) as probe:
        # Let idle reach a clearly non-zero value first, so a reset is visible.
        assert _poll(lambda: probe.idle_ms() >= 300)
        moves = iter(range(1_000))

        def moved_and_reset() -> bool:
            n = next(moves)
            _move(display, 100 + n % 2 * 50, 100 + n % 3 * 50)  # a new position every time
            return probe.idle_ms() < 250

        assert _poll(moved_and_reset), "xdotool input did not reset the idle time"


def test_display_from_environment(display: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", display)
    with X11Idle() as probe:
        assert probe.display == display
        assert probe.idle_seconds() >= 0


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(X11IdleError, match="DISPLAY is not set"):
        X11Idle()


def test_unreachable_display_is_a_clear_error() -> None:
    with pytest.raises(X11IdleError, match="cannot open X display"):
        X11Idle(":1999")


def test_closed_probe_refuses_to_read(display: str) -> None:
    probe = X11Idle(display)
    probe.close()
    probe.close()  # idempotent
    with pytest.raises(X11IdleError, match="closed"):
        probe.idle_ms()


def test_make_idle_source_auto_picks_x11(display: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.probes.idle import make_idle_source

    monkeypatch.setenv("DISPLAY", display)
    probe = make_idle_source({"source": "auto"})
    assert isinstance(probe, X11Idle)
    probe.close()
    explicit = make_idle_source({"source": "x11", "display": display})
    assert isinstance(explicit, X11Idle)
    assert explicit.display == display
    explicit.close()
