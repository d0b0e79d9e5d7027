"""No screen, no desktop: the service ends a logon without a lock screen, and a session whose screen went away.

Driven from the outside: the screen is a client of the real control socket; time is a ManualClock."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from agent.control import ControlClient, Escape, Screen, parse_request, serve_control
from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.logon import FakeLogon
from agent.screenwatch import SCREEN_WONT_START, ScreenWatch
from espace import protocol as p
from espace.clock import ManualClock

T0 = 1_800_000_000.0


@pytest.fixture
async def station(tmp_path):
    clock = ManualClock(T0)
    outbox = Outbox(tmp_path / "outbox.db")
    agent = Agent("PC-07", "token", "ws://127.0.0.1:9/ws/agent", outbox, clock=clock, probes=Probes())
    logon = FakeLogon(on=True)
    watch = ScreenWatch(agent, logon, grace_s=30, lost_grace_s=5)
    agent.screen_watch = watch
    sock = str(tmp_path / "c.sock")
    server = await serve_control(agent, sock)
    yield agent, clock, logon, watch, sock
    await settle()
    server.close()
    await server.wait_closed()
    outbox.close()


async def events(agent: Agent) -> list[dict]:
    return [json.loads(body) for _seq, _id, body in await agent.outbox.pending()]


async def escapes(agent: Agent) -> list[dict]:
    """The escape_attempt events, their defaults filled in (the wire leaves them out)."""
    return [{"action": "none", "session_id": None, **e} for e in await events(agent) if e["type"] == "escape_attempt"]


async def settle() -> None:
    for _ in range(20):  # the server side of a closed socket runs its finally
        await asyncio.sleep(0.01)


async def looks(watch: ScreenWatch, clock: ManualClock, seconds: float, step: float = 1.0) -> None:
    """The watch's once-a-second looks over ``seconds`` of the clock."""
    for _ in range(int(seconds / step)):
        await watch.check()
        clock._now += step
    await watch.check()


async def begin_session(agent: Agent) -> str:
    now = agent.clock.now()
    grant = p.Grant(cmd=p.new_id(), session_id=p.new_id(), start=now, end=now + 3600, cause="open", origin="walkup")
    await agent._begin(grant, "fr", offline=True)
    return grant.session_id


async def test_logged_on_without_a_screen_ends_the_logon_after_the_grace(station):
    agent, clock, logon, watch, _ = station
    await looks(watch, clock, 29)
    assert logon.ended == 0
    assert await escapes(agent) == []
    await looks(watch, clock, 2)
    assert logon.ended == 1
    [e] = await escapes(agent)
    assert (e["what"], e["action"], e["session_id"]) == ("screen_missing", "logged_off", None)
    assert e["at"] >= T0 + 30


async def test_no_logon_no_action(station):
    agent, clock, logon, watch, _ = station
    logon.on = False
    await looks(watch, clock, 120)
    assert logon.ended == 0
    assert await escapes(agent) == []


async def test_a_connected_screen_keeps_the_desktop_and_says_who_it_is(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    assert (await screen.call("screen", state="lock"))["ok"]
    await looks(watch, clock, 120)
    assert logon.ended == 0
    assert await escapes(agent) == []
    assert watch.state == "lock"
    assert watch.peer == {"pid": os.getpid(), "uid": os.getuid()}
    await screen.close()


async def test_a_screen_closed_at_the_lock_ends_the_logon_after_the_short_grace(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    await screen.close()
    await settle()
    await looks(watch, clock, 4)
    assert logon.ended == 0
    await looks(watch, clock, 2)
    assert logon.ended == 1
    [e] = await escapes(agent)
    assert (e["what"], e["action"], e["session_id"]) == ("screen_closed", "logged_off", None)


async def a_screen_comes_back_and_nothing_is_ended(station, seconds: float) -> None:
    """A lock screen connects again and stays ``seconds``: no log-off, no escape."""
    agent, clock, logon, watch, sock = station
    again = await ControlClient.connect(sock)
    await again.call("screen", state="lock")
    await looks(watch, clock, seconds)
    assert logon.ended == 0
    assert await escapes(agent) == []
    await again.close()


async def test_a_screen_that_reconnects_within_the_grace_changes_nothing(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    await screen.close()
    await settle()
    await looks(watch, clock, 3)
    await a_screen_comes_back_and_nothing_is_ended(station, 120)


async def test_a_screen_the_reset_closes_is_no_escape_and_the_next_logon_gets_the_whole_grace(station):
    """A session ends: the reset ends every program of the visitor, the lock screen with them."""
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    await begin_session(agent)
    await screen.call("screen", state="session")
    reset = agent.probes.reset.reset

    def reset_closing_the_screen():  # as WipeReset.end_processes does, from its worker thread
        asyncio.run_coroutine_threadsafe(screen.close(), loop).result(5)
        return reset()

    loop = asyncio.get_running_loop()
    agent.probes.reset.reset = reset_closing_the_screen
    await agent.end_session("visitor")
    await settle()
    await looks(watch, clock, 29)  # auto-login's fresh desktop is logged on; its screen is slow to come
    assert logon.ended == 0
    assert await escapes(agent) == []
    await a_screen_comes_back_and_nothing_is_ended(station, 60)


async def test_a_plain_client_closing_is_not_the_screen(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    other = await ControlClient.connect(sock)
    await other.call("status")
    await other.close()
    await settle()
    await looks(watch, clock, 60)
    assert logon.ended == 0
    assert await escapes(agent) == []
    await screen.close()


async def test_the_screen_gone_in_a_session_ends_the_session_with_reason_screen(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    sid = await begin_session(agent)
    await screen.call("screen", state="session")
    await screen.close()
    await settle()
    assert agent.session is None
    evs = await events(agent)
    [e] = await escapes(agent)
    assert (e["what"], e["action"], e["session_id"]) == ("screen_closed_in_session", "session_ended", sid)
    [ended] = [e for e in evs if e["type"] == "session_ended"]
    assert (ended["session_id"], ended["reason"]) == (sid, "screen")
    assert [e["type"] for e in evs].count("station_reset") == 1


async def test_three_missing_screens_in_a_row_are_a_station_problem(station):
    agent, clock, logon, watch, sock = station
    for n in range(1, 4):
        await looks(watch, clock, 31)
        assert logon.ended == n
        assert (SCREEN_WONT_START in agent.problems) == (n >= 3)
    assert [e["what"] for e in await escapes(agent)] == ["screen_missing"] * 3
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    assert SCREEN_WONT_START not in agent.problems  # the screen came: the floor stops showing it
    await screen.close()


async def test_missing_after_a_screen_once_came_is_no_station_problem(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    await screen.close()
    await settle()
    for _ in range(4):
        await looks(watch, clock, 31)
    assert logon.ended >= 4
    assert SCREEN_WONT_START not in agent.problems


async def test_escapes_the_screen_reports_are_rate_limited_per_kind(station):
    agent, clock, logon, watch, sock = station
    screen = await ControlClient.connect(sock)
    await screen.call("screen", state="lock")
    assert (await screen.call("escape", what="focus_lost"))["recorded"] is True
    assert (await screen.call("escape", what="focus_lost"))["recorded"] is False
    assert (await screen.call("escape", what="grab_failed"))["recorded"] is True
    clock._now += 31
    assert (await screen.call("escape", what="focus_lost"))["recorded"] is True
    got = [(e["what"], e["action"]) for e in await escapes(agent)]
    assert got == [("focus_lost", "refocused"), ("grab_failed", "none"), ("focus_lost", "refocused")]
    bad = await screen.call("escape", what="screen_missing")  # the service's own findings, not the screen's
    assert bad["ok"] is False
    assert "bad request" in bad["error"]
    await screen.close()


@pytest.mark.parametrize("line", [b'{"op": "screen", "state": "lock"}', b'{"op": "screen", "state": "session"}'])
def test_screen_op_parses(line):
    assert isinstance(parse_request(line), Screen)


def test_escape_op_parses():
    assert parse_request(b'{"op": "escape", "what": "grab_failed"}') == Escape(what="grab_failed")


@pytest.mark.parametrize(
    "line",
    [
        b'{"op": "screen"}',
        b'{"op": "screen", "state": "desktop"}',
        b'{"op": "screen", "state": "lock", "pid": 1}',
        b'{"op": "escape"}',
        b'{"op": "escape", "what": "screen_closed"}',
        b'{"op": "escape", "what": "alt_tab"}',
    ],
)
def test_bad_screen_and_escape_ops_are_refused(line):
    with pytest.raises(ValueError, match=r".+"):
        parse_request(line)


def test_the_linux_logon_source_needs_no_wipe_roots_and_sees_no_logon_of_a_user_without_processes():
    """What the service builds at start-up (it once refused to start: it made a reset with no roots)."""
    from agent.probes.logon import ProcessLogon, logon_source

    src = logon_source("espace-nobody-here", kill_timeout=0.5)
    assert isinstance(src, ProcessLogon)
    assert src.logged_on() is False
    src.end_logon()  # nothing to end, nothing raised
