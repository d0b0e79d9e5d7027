"""Parsing of loginctl's idle hint, and the probe over a recorded loginctl."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import pytest

from agent.probes.idle_logind import (
    LogindIdle,
    LogindIdleError,
    parse_idle_hint,
    pick_session,
    run_loginctl,
)

# As printed by systemd 252 (Debian 12) for an idle text console.
IDLE = "IdleHint=yes\nIdleSinceHint=1767225600000000\nIdleSinceHintMonotonic=5000000000\n"
ACTIVE = "IdleHint=no\nIdleSinceHint=0\nIdleSinceHintMonotonic=0\n"
LIST = """\
     3 1001 visitor seat0 tty7
     7 1001 visitor       pts/0
    12    0 root          pts/1
"""


def test_active_session_reads_zero() -> None:
    assert parse_idle_hint(ACTIVE, now_monotonic_us=9_000_000_000) == 0.0


def test_idle_since_monotonic() -> None:
    assert parse_idle_hint(IDLE, now_monotonic_us=5_090_500_000) == pytest.approx(90.5)


def test_idle_since_in_the_future_clamps_to_zero() -> None:
    assert parse_idle_hint(IDLE, now_monotonic_us=4_000_000_000) == 0.0


def test_wall_clock_fallback_when_no_monotonic_hint() -> None:
    out = "IdleHint=yes\nIdleSinceHint=1767225600000000\n"
    assert parse_idle_hint(out, 0, now_realtime_us=1767225600000000 + 120_000_000) == 120.0


def test_idle_with_unknown_since_reads_zero() -> None:
    assert parse_idle_hint("IdleHint=yes\nIdleSinceHintMonotonic=0\n", 10**12) == 0.0


def test_property_order_and_blank_lines_do_not_matter() -> None:
    out = "\nIdleSinceHintMonotonic=1000000\n\nIdleHint=yes\n"
    assert parse_idle_hint(out, 4_000_000) == 3.0


@pytest.mark.parametrize("out", ["", "Failed to get session", "IdleHint=maybe\n"])
def test_output_without_idle_hint_is_refused(out: str) -> None:
    with pytest.raises(LogindIdleError, match="no IdleHint"):
        parse_idle_hint(out, 0)


def test_bad_timestamp_is_refused() -> None:
    with pytest.raises(LogindIdleError, match="bad idle timestamp"):
        parse_idle_hint("IdleHint=yes\nIdleSinceHintMonotonic=soon\n", 0)


def test_pick_session_prefers_the_seat() -> None:
    assert pick_session(LIST, "visitor") == "3"
    assert pick_session(LIST, "root") == "12"
    assert pick_session(LIST, "nobody") is None
    assert pick_session("", "visitor") is None


class Recorded:
    """A loginctl that answers from recorded output and remembers the calls."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> str:
        self.calls.append(list(args))
        return self.answers[args[0]]


def test_probe_finds_the_users_session_each_read() -> None:
    loginctl = Recorded({"list-sessions": LIST, "show-session": IDLE})
    probe = LogindIdle(user="visitor", run=loginctl, monotonic_us=lambda: 5_010_000_000)
    assert probe.idle_seconds() == 10.0
    assert loginctl.calls[0] == ["list-sessions", "--no-legend"]
    assert loginctl.calls[1][:2] == ["show-session", "3"]


def test_probe_with_nobody_logged_on_reads_zero() -> None:
    loginctl = Recorded({"list-sessions": "", "show-session": IDLE})
    assert LogindIdle(user="visitor", run=loginctl).idle_seconds() == 0.0
    assert len(loginctl.calls) == 1


def test_probe_with_a_fixed_session() -> None:
    loginctl = Recorded({"show-session": ACTIVE})
    assert LogindIdle("auto", run=loginctl).idle_seconds() == 0.0
    assert loginctl.calls[0][:2] == ["show-session", "auto"]


def test_missing_loginctl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LogindIdleError, match="could not run"):
        run_loginctl(["show-session", "auto"])


@pytest.mark.skipif(shutil.which("loginctl") is None, reason="needs loginctl")
def test_real_loginctl_failure_is_a_clear_error() -> None:
    with pytest.raises(LogindIdleError, match=r"loginctl show-session no-such-session .*failed"):
        LogindIdle("no-such-session").idle_seconds()


# --------------------------------------------------- choosing the idle source


def test_make_idle_source_fake_and_logind() -> None:
    from agent.probes.base import FakeIdle
    from agent.probes.idle import make_idle_source

    fake = make_idle_source({"source": "fake", "seconds": 42})
    assert isinstance(fake, FakeIdle)
    assert fake.idle_seconds() == 42.0
    probe = make_idle_source({"source": "logind", "user": "visitor"})
    assert isinstance(probe, LogindIdle)
    assert (probe.session, probe.user) == ("auto", "visitor")


def test_make_idle_source_reads_attributes_too() -> None:
    from types import SimpleNamespace

    from agent.probes.idle import make_idle_source

    assert make_idle_source(SimpleNamespace(source="FAKE", seconds=1.5)).idle_seconds() == 1.5


def test_make_idle_source_refuses_unknown_source() -> None:
    from agent.probes.idle import make_idle_source

    with pytest.raises(ValueError, match="unknown idle source 'xorg'"):
        make_idle_source({"source": "xorg"})


def test_auto_without_display_picks_logind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The choice, at its OS seams (platform, DISPLAY, loginctl on PATH): runs on any CI host."""
    from agent.probes import idle

    monkeypatch.setattr(idle.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(idle.shutil, "which", lambda name: f"/usr/bin/{name}" if name == "loginctl" else None)
    assert isinstance(idle.make_idle_source({}), LogindIdle)
    monkeypatch.setattr(idle.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no idle source here"):
        idle.make_idle_source({})
