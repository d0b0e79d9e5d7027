"""The session process for real: Tk under Xvfb, a real agent service process, a real controller.

start -> countdown -> warning -> help (the controller records it) -> cancel -> end -> cleaning,
the idle report path (the UI's measure ends a session for idleness), the service going away
and coming back, and the ``session-ui`` entry point as its own process. Screenshots go to
$ESPACE_SHOTS (or the test's tmp_path).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tkinter as tk
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.probes.base import FakeIdle
from agent.probes.reported import ReportedIdle
from agent.ui.service_link import ServiceLink
from agent.ui.session_app import SessionApp
from espace.clock import clock_from_spec
from espace.enrolcode import code_from_digest
from espace.i18n import format_time
from tests.support.display import XVFB, display_set, screenshot, xvfb
from tests.support.procs import ROOT, AgentProc, ControllerProc, shared_clock

W, H = 1280, 800
SPEED = 120.0  # one virtual hour in 30 real seconds
STATION = "PC-03"


# -- ReportedIdle: no display needed -------------------------------------------------------


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_reported_idle_grows_from_the_last_report_and_goes_stale_to_zero() -> None:
    t = Ticker()
    idle = ReportedIdle(stale_after=30, now=t)
    assert idle.idle_seconds() == 0.0  # no session process ever reported
    idle.report(100.0)
    assert idle.idle_seconds() == 100.0
    t.t += 12
    assert idle.idle_seconds() == 112.0  # the visitor is still away between two reports
    idle.report(0.0)  # they moved the mouse
    t.t += 5
    assert idle.idle_seconds() == 5.0
    idle.report(700.0)
    t.t += 31  # then the session process crashed: no report for longer than stale_after
    assert idle.idle_seconds() == 0.0
    assert idle.last_report_age == 31
    idle.report(float("nan"))
    assert idle.idle_seconds() == 0.0
    idle.report(-3)
    assert idle.idle_seconds() == 0.0
    with pytest.raises(ValueError, match="stale_after"):
        ReportedIdle(stale_after=0)


# -- the real thing under Xvfb -------------------------------------------------------------

needs_x = pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed")


@pytest.fixture(scope="session")
def x_server() -> Iterator[str]:
    """Tk keeps its connection to a display until the process exits, and Xlib exits the
    process when that server goes away: the server outlives every test of the session."""
    if XVFB is None:
        pytest.skip("Xvfb is not installed")
    with xvfb(W, H) as name:
        yield name


@pytest.fixture(scope="module")
def display(x_server: str) -> Iterator[str]:
    with display_set(x_server):
        yield x_server


class Station:
    """A real controller and a real agent service, driven from a private event loop."""

    def __init__(self, tmp: Path, enrol: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = shared_clock(speed=SPEED)
        config = tmp / "site.toml"
        config.write_text("warn_minutes = [55, 5, 1]\n")  # a first warning 5 virtual minutes in
        self.controller = ControllerProc(tmp, self.clock, config)
        self.controller.start()
        token = "" if enrol else self.controller.add_station(STATION)  # no token: the agent asks to enrol
        self.agent = AgentProc(
            tmp, STATION, token, self.controller.ws_url, self.clock, heartbeat=0.5
        )
        self.run(self.agent.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def status(self) -> dict[str, Any]:
        return self.run(self.agent.call("status"))

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return self.controller.rows(sql, *args)

    def close(self) -> None:
        self.run(self.agent.kill())
        self.controller.kill()
        self.loop.close()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = Station(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def root(display: str) -> Iterator[tk.Tk]:
    window = tk.Tk()
    yield window
    window.destroy()


def pump(root: tk.Tk) -> None:
    root.update_idletasks()
    root.update()


def wait_until(
    root: tk.Tk, condition: Callable[[], Any], timeout: float = 20.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        pump(root)
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def xdotool(display: str, *args: str) -> None:
    subprocess.run(
        ["xdotool", *args], check=True, env={**os.environ, "DISPLAY": display}, timeout=10
    )


def centre(widget: tk.Misc) -> tuple[str, str]:
    return (
        str(widget.winfo_rootx() + widget.winfo_width() // 2),
        str(widget.winfo_rooty() + widget.winfo_height() // 2),
    )


def text(widget: tk.Misc) -> str:
    return str(widget.cget("text"))


def make_app(root: tk.Tk, station: Station, idle: FakeIdle) -> SessionApp:
    link = ServiceLink(station.agent.sock)
    app = SessionApp(
        root, link, "fr", idle, clock=clock_from_spec(station.clock.spec()), idle_every=0.2
    )
    app.start()
    return app


def on_lock_with_offer(app: SessionApp) -> bool:
    return (
        app.ui.mode == "lock"
        and app.ui.lock.start_button.winfo_ismapped()
        and app._offer is not None
    )


@needs_x
def test_a_new_station_shows_its_code_until_approved_then_the_lock_screen(
    root: tk.Tk, display: str, tmp_path: Path, shots: Path
) -> None:
    station = Station(tmp_path, enrol=True)
    try:
        app = make_app(root, station, FakeIdle(2.0))
        try:
            wait_until(root, lambda: app.ui.mode == "setup", what="the set-up screen")
            (row,) = station.rows("SELECT key_hash FROM enrolments WHERE station = ?", STATION)
            code = code_from_digest(row["key_hash"])  # 4 x 4 characters, 80 bits of the station's key
            assert text(app.ui.lock.notice_extra) == f"Code pour l'animateur : {code}"
            screenshot(display, shots / "setup-real-fr.png")
            station.controller.cli("station", "approve", STATION, "--code", code)
            wait_until(root, lambda: on_lock_with_offer(app), timeout=30, what="the lock screen once approved")
        finally:
            app.stop()
    finally:
        station.close()


@needs_x
def test_start_warning_help_end_through_the_real_service(
    root: tk.Tk, display: str, station: Station, shots: Path
) -> None:
    app = make_app(root, station, FakeIdle(2.0))
    try:
        # The lock screen shows what a start would give: the service's dry-run grant.
        wait_until(root, lambda: on_lock_with_offer(app), what="the lock screen with an offer")
        offer_end = app._offer["end_ts"]
        assert abs(offer_end - station.clock.now() - 3600) < 5 * SPEED
        assert (
            text(app.ui.lock.start_button)
            == f"Commencer ma session\nJusqu'à {format_time(offer_end, 'fr')}"
        )
        assert station.status()["session"] is None  # a dry run starts nothing
        screenshot(display, shots / "01-lock-fr.png")

        # Dutch, then a real click on "start my session".
        xdotool(display, "mousemove", *centre(app.ui.lock.lang_buttons["nl"]), "click", "1")
        wait_until(root, lambda: app.lang == "nl", what="Dutch")
        xdotool(display, "mousemove", *centre(app.ui.lock.start_button), "click", "1")
        wait_until(root, lambda: app.ui.mode == "session", what="the session")
        st = station.status()
        assert st["session"] is not None
        assert st["session"]["lang"] == "nl"
        panel = app.ui.panel
        assert panel.window.winfo_ismapped()
        assert not root.winfo_ismapped()
        assert text(panel.time_left).startswith("Nog ")
        assert text(panel.time_left).endswith(" min")
        assert text(panel.until) == f"Tot {format_time(st['session']['end'], 'nl')}"
        screenshot(display, shots / "02-session-nl.png")

        # Help: confirm, the service records it, the controller has the request.
        panel.help_button.invoke()
        pump(root)
        app.ui.dialogs["help"].buttons["help.confirm_yes"].invoke()
        wait_until(root, lambda: station.status()["session"]["help_id"], what="the help request")
        assert text(panel.help_status).startswith("Uw vraag is verstuurd.")
        help_id = station.status()["session"]["help_id"]
        wait_until(
            root,
            lambda: station.rows("SELECT * FROM help_requests WHERE id = ?", help_id),
            what="help row",
        )

        # Five virtual minutes in: the first warning (55 min left), from the service's clock.
        wait_until(root, lambda: "warn" in app.ui.dialogs, timeout=30, what="the warning")
        assert {"ui": "warn", "minutes": 55, "kind": "time"} in app.seen
        warning = app.ui.dialogs["warn"]
        assert text(warning.title) == "Let op"
        assert text(warning.body).startswith("Uw sessie eindigt over 55 min.")
        screenshot(display, shots / "03-warning-help-nl.png")
        warning.buttons["warn.ack"].invoke()

        # Cancel the request: the controller marks it cancelled.
        panel.help_cancel.invoke()
        wait_until(
            root, lambda: station.status()["session"]["help_id"] is None, what="help cancelled"
        )
        wait_until(
            root,
            lambda: station.rows("SELECT cancelled FROM help_requests WHERE id = ?", help_id)[0][
                "cancelled"
            ],
            what="the cancellation in the controller",
        )

        # End my session: confirm; the service ends, cleans, and the lock screen comes back.
        panel.end_button.invoke()
        pump(root)
        assert "gewist" in text(app.ui.dialogs["end"].body)
        app.ui.dialogs["end"].buttons["end.confirm_yes"].invoke()
        wait_until(
            root, lambda: {"ui": "cleaning", "reason": "visitor"} in app.seen, what="cleaning"
        )
        wait_until(root, lambda: on_lock_with_offer(app), what="the lock screen again")
        assert app.ui.texts.lang == "fr"  # the next visitor starts in the default language
        assert not panel.window.winfo_ismapped()
        screenshot(display, shots / "04-lock-again-fr.png")
        station.run(station.agent.wait_drained())
        rows = station.rows("SELECT * FROM sessions WHERE station = ?", STATION)
        assert [(r["end_reason"], r["lang"], r["warnings"]) for r in rows] == [("visitor", "nl", 1)]
    finally:
        app.stop()


@needs_x
def test_the_idle_measure_reaches_the_service_and_a_lost_service_shows_out_of_order(
    root: tk.Tk, display: str, station: Station, shots: Path
) -> None:
    idle = FakeIdle(0.0)
    app = make_app(root, station, idle)
    try:
        wait_until(root, lambda: on_lock_with_offer(app), what="the lock screen")
        app.ui.lock.start_button.invoke()
        wait_until(root, lambda: app.ui.mode == "session", what="the session")

        # The UI says the visitor has been away 11 minutes: the service prompts.
        idle.value = 660.0
        wait_until(root, lambda: "idle" in app.ui.dialogs, what="the idle prompt")
        assert text(app.ui.dialogs["idle"].title) == "Êtes-vous toujours là ?"
        screenshot(display, shots / "05-idle-fr.png")
        idle.value = 0.0  # they come back and answer
        app.ui.dialogs["idle"].buttons["idle.still_here"].invoke()
        wait_until(root, lambda: {"ui": "idle_clear"} in app.seen, what="the prompt withdrawn")
        assert app.ui.mode == "session"

        # Away for good: the session ends for idleness.
        idle.value = 800.0
        wait_until(
            root, lambda: {"ui": "cleaning", "reason": "idle"} in app.seen, what="the idle end"
        )
        idle.value = 0.0
        wait_until(root, lambda: on_lock_with_offer(app), what="the lock screen")

        # The service dies: out of order. It comes back: the lock screen again.
        station.run(station.agent.kill())
        wait_until(root, lambda: app.ui.mode == "out_of_order", what="out of order")
        screenshot(display, shots / "06-out-of-order-fr.png")
        station.run(station.agent.start())
        wait_until(
            root,
            lambda: on_lock_with_offer(app),
            timeout=30,
            what="the lock screen after a restart",
        )
        station.run(station.agent.wait_drained())
        rows = station.rows("SELECT end_reason FROM sessions WHERE station = ?", STATION)
        assert [r["end_reason"] for r in rows] == ["idle"]
    finally:
        app.stop()


@needs_x
def test_the_session_ui_command_runs_as_its_own_process(
    display: str, station: Station, shots: Path
) -> None:
    cmd = [
        sys.executable, "-m", "agent.ui.session_cli", "session-ui",
        "--control", str(station.agent.sock), "--lang", "en", "--clock", station.clock.spec(),
    ]  # fmt: skip
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        # A visible window covering the screen, from that process.
        deadline = time.monotonic() + 20
        while True:
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid), "--name", ""],
                env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if found.stdout.strip():
                break
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "no window from the session-ui process"
            time.sleep(0.1)
        # The window is mapped before it is drawn: poll until the screen shows the drawn offer (a blank
        # screen compresses to a few hundred bytes, the lock screen to tens of kilobytes).
        deadline = time.monotonic() + 30
        while True:
            shot = screenshot(display, shots / "07-session-ui-process-en.png")
            if shot.stat().st_size > 10_000:
                break
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the session-ui process never drew its screen"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out.decode()


@needs_x
def test_a_screen_with_no_working_idle_source_tells_the_service(root: tk.Tk, station: Station) -> None:
    """[idle] names a probe that cannot work on this desktop: the service hears why, every few seconds."""
    from agent.config import IdleSection
    from agent.ui.session_app import idle_from_config

    source, problem = idle_from_config(IdleSection(source="x11", display=":139.7"))  # no such screen
    assert source is None
    assert problem is not None
    assert "X11IdleError" in problem
    link = ServiceLink(station.agent.sock)
    app = SessionApp(root, link, "fr", source, clock=clock_from_spec(station.clock.spec()), idle_every=0.2, idle_problem=problem)
    app.start()
    try:
        wait_until(root, lambda: station.status().get("idle_problem") == problem, what="the idle problem at the service")
    finally:
        app.stop()
