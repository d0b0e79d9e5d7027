"""``espace-agent service`` under the Windows Service Control Manager, on Linux.

The SCM and pywin32's service modules are faked at their seam (tests/support/fake_pywin32.py);
everything above it is the real command: ``agent.cli.main(["service", "--config", ...])`` as
the installer registers it, with the platform reported as win32 to the CLI only (the control
channel stays the Unix socket here, the only one this machine has).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import agent.cli
from agent.control import ControlClient
from agent.winservice import STOP_WAIT_HINT_MS, StopSignal, run_service
from tests.support import fake_pywin32 as fw
from tests.support.procs import wait_for


def write_config(tmp_path: Path, control: Path) -> Path:
    state = tmp_path / "state"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f"""
[station]
id = "PC-21"
[controller]
url = "ws://127.0.0.1:9/ws/agent"
discover = false
[agent]
state_dir = "{state}"
control_socket = "{control}"
[wipe]
user = ""
[print]
source = "fake"
[health]
disk_path = "{tmp_path}"
""",
        encoding="utf-8",
    )
    return cfg


@pytest.fixture
def scm(monkeypatch: pytest.MonkeyPatch) -> fw.FakeSCM:
    scm = fw.FakeSCM()
    fw.install(monkeypatch, scm)
    as_windows = types.SimpleNamespace(platform="win32", stderr=sys.stderr, modules=sys.modules)
    monkeypatch.setattr(agent.cli, "sys", as_windows)  # cmd_service takes its Windows branch
    return scm


async def test_the_service_answers_the_scm_and_stops_cleanly(scm: fw.FakeSCM, tmp_path: Path) -> None:
    sock = tmp_path / "control.sock"
    cfg = write_config(tmp_path, sock)
    exit_code: list[int] = []
    host = threading.Thread(target=lambda: exit_code.append(agent.cli.main(["service", "--config", str(cfg)])))
    host.start()
    try:
        await wait_for(scm.running.is_set, what="SERVICE_RUNNING reported")

        async def answers() -> bool:
            try:
                client = await ControlClient.connect(sock)
            except OSError:
                return False
            try:
                return (await client.call("status"))["ok"] is True
            finally:
                await client.close()

        await wait_for(answers, what="the control channel up under the SCM")
        scm.control(fw.SERVICE_CONTROL_STOP)
        await wait_for(scm.stopped.is_set, what="SERVICE_STOPPED")
    finally:
        if not scm.stopped.is_set():
            scm.control(fw.SERVICE_CONTROL_STOP)
        await asyncio.to_thread(host.join, 30)
    assert exit_code == [0]
    assert scm.states() == [fw.SERVICE_START_PENDING, fw.SERVICE_RUNNING, fw.SERVICE_STOP_PENDING,
                            fw.SERVICE_STOP_PENDING, fw.SERVICE_STOPPED]  # fmt: skip
    stop_pending = scm.statuses[2]
    assert stop_pending[6] == STOP_WAIT_HINT_MS
    assert stop_pending[2] == fw.SERVICE_ACCEPT_STOP | fw.SERVICE_ACCEPT_SHUTDOWN
    assert scm.statuses[-1][3] == 0  # a clean stop: no error code, no restart
    assert [kind for kind, _ in scm.messages] == ["info", "info"]
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
        await ControlClient.connect(sock)  # the channel is closed
    state = tmp_path / "state"
    assert not (state / "outbox.db-wal").exists()  # the outbox was closed, not abandoned
    with sqlite3.connect(state / "outbox.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "stop asked by the Service Control Manager" in (state / "agent.log").read_text(encoding="utf-8")


async def test_a_failing_service_reports_an_error_so_that_the_scm_restarts_it(
    scm: fw.FakeSCM, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cfg = write_config(tmp_path, blocker / "control.sock")  # the channel cannot be made
    await asyncio.to_thread(agent.cli.main, ["service", "--config", str(cfg)])
    assert scm.states()[-1] == fw.SERVICE_STOPPED
    assert scm.statuses[-1][3] == fw.ERROR_SERVICE_SPECIFIC_ERROR  # sc failureflag 1: failure actions run
    assert scm.messages[-1][0] == "error"
    assert "FileExistsError" in scm.messages[-1][1]  # what went wrong, in the Application log


def test_outside_the_scm_the_service_runs_in_the_console(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scm = fw.FakeSCM(started_by_scm=False)
    fw.install(monkeypatch, scm)
    # the venv's site-packages on PYTHONPATH, as the installer sets it: its .pth files are read
    (tmp_path / "win32" / "lib").mkdir(parents=True)
    (tmp_path / "pywin32.pth").write_text("# .pth file for the PyWin32 extensions\nwin32\nwin32/lib\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    ran: list[bool] = []

    async def main(stop: asyncio.Event) -> None:
        ran.append(not stop.is_set())

    assert run_service(main) == 0
    assert ran == [True]
    assert scm.statuses == []
    assert str(tmp_path / "win32" / "lib") in sys.path


def test_other_dispatcher_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    scm = fw.FakeSCM()
    fw.install(monkeypatch, scm)

    def refuse() -> None:
        raise fw.PyWinError(5, "StartServiceCtrlDispatcher", "Access is denied.")

    monkeypatch.setattr(sys.modules["servicemanager"], "StartServiceCtrlDispatcher", refuse)

    async def main(stop: asyncio.Event) -> None:
        raise AssertionError("must not run")

    with pytest.raises(fw.PyWinError):
        run_service(main)


def test_a_stop_asked_before_the_loop_is_up_is_not_lost() -> None:
    signal = StopSignal()
    signal.request()
    seen: list[Any] = []

    async def later() -> None:
        seen.append(signal.bind().is_set())

    asyncio.run(later())
    assert seen == [True]


def test_a_bad_configuration_is_told_in_the_event_log(scm: fw.FakeSCM, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text("[agent]\nheartbeat_seconds = 'often'\n", encoding="utf-8")
    assert agent.cli.main(["service", "--config", str(cfg)]) == 2
    ((kind, text),) = scm.messages
    assert kind == "error"
    assert "configuration:" in text
    assert "heartbeat_seconds" in text
