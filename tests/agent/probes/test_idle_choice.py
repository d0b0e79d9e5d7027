"""Which idle probe a desktop gets, and where the session screen reads its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError
from agent.probes import idle
from agent.ui import session_cli

LOGINCTL = {"loginctl": "/usr/bin/loginctl"}


@pytest.fixture
def which(monkeypatch: pytest.MonkeyPatch):
    found: dict[str, str] = dict(LOGINCTL)
    monkeypatch.setattr(idle.shutil, "which", lambda name: found.get(name))
    return found


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", "logind"),  # Xwayland's DISPLAY is not the desktop
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, "linux", "x11"),
        ({"XDG_SESSION_TYPE": "tty"}, "linux", "logind"),
        ({"DISPLAY": ":0"}, "linux", "x11"),  # no session type (started by hand): the display decides
        ({}, "linux", "logind"),
        ({"XDG_SESSION_TYPE": "wayland"}, "win32", "windows"),
    ],
)
def test_auto_chooses_by_the_session_type(which, env: dict[str, str], platform: str, expected: str) -> None:
    assert idle.auto_source(None, env, platform) == expected


def test_wayland_without_logind_is_a_clear_error(which) -> None:
    which.clear()
    with pytest.raises(RuntimeError, match="wayland session: loginctl"):
        idle.auto_source(None, {"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "linux")


def test_auto_on_wayland_builds_the_logind_probe(which, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.probes.idle_logind import LogindIdle

    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(idle.sys, "platform", "linux")
    assert isinstance(idle.make_idle_source({"source": "auto"}), LogindIdle)


def test_the_screen_reads_socket_and_idle_from_the_service_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text('[controller]\nurl = "ws://127.0.0.1:1/ws/agent"\n[agent]\ncontrol_socket = "/run/x/c.sock"\n[idle]\nsource = "logind"\n')
    s = session_cli.session_settings(str(conf), None)
    assert (s.control, s.idle.source, s.config) == ("/run/x/c.sock", "logind", str(conf))
    assert session_cli.session_settings(str(conf), "/tmp/other.sock").control == "/tmp/other.sock"


def test_no_file_at_the_default_path_means_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(session_cli, "DEFAULT_CONFIG", str(tmp_path / "absent.toml"))
    s = session_cli.session_settings(None, None)
    assert (s.control, s.idle.source, s.config) == ("/run/espace-agent/control.sock", "auto", None)


def test_a_named_file_that_is_missing_or_wrong_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        session_cli.session_settings(str(tmp_path / "absent.toml"), None)
    bad = tmp_path / "bad.toml"
    bad.write_text("[idle]\nsorce = 'x11'\n")
    with pytest.raises(ConfigError, match="sorce"):
        session_cli.session_settings(str(bad), None)


def test_an_unreadable_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0640 root file, as the old install step made it: the visitor's screen gets EACCES (the OS seam)."""
    conf = tmp_path / "agent.toml"
    conf.write_text("")

    def denied(path: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(session_cli, "load_config", denied)
    with pytest.raises(ConfigError, match="not readable"):
        session_cli.session_settings(str(conf), None)


def test_the_command_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import build_parser

    args = build_parser().parse_args(["session-ui", "--config", str(tmp_path / "absent.toml")])
    assert args.func(args) == 2
    assert "absent.toml: no such file" in capsys.readouterr().err
