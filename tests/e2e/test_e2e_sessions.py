"""Real controller and agent processes over loopback WebSocket, on an accelerated clock."""

from __future__ import annotations

import asyncio
import random

from tests.support.procs import wait_for


async def _ended(floor, agent) -> bool:
    st = await agent.call("status")
    return st["session"] is None and st["outbox"] == 0 and st["connected"]


async def test_a_session_runs_through_its_warnings_to_its_end(make_floor):
    floor = make_floor(300.0)  # one virtual hour in 12 real seconds
    floor.controller.start()
    agent = await floor.add_agent("PC-07")
    await wait_for(lambda: agent.call("status"), what="agent status")
    await wait_for(lambda: _connected(agent), what="connection")

    started = await agent.call("start", lang="nl")
    assert started["ok"], started
    assert started["cause"] == "length"
    assert abs((started["end"] - floor.clock.now()) - 3600) < 120

    await wait_for(lambda: _ended(floor, agent), within=60, what="the session to end and be acknowledged")

    sessions = floor.rows("SELECT * FROM sessions")
    assert len(sessions) == 1
    s = sessions[0]
    assert s["station"] == "PC-07"
    assert s["lang"] == "nl"
    assert s["offline"] == 0
    assert s["end_reason"] == "time"
    assert s["warnings"] == 3
    assert s["planned_end"] <= s["end"] < s["planned_end"] + 300  # ended on time (virtual seconds)
    kinds = [r["type"] for r in floor.rows("SELECT type FROM events WHERE station = 'PC-07' ORDER BY seq")]
    assert kinds == ["session_started", "session_warned", "session_warned", "session_warned", "session_ended", "station_reset"]
    warned = [r["body"] for r in floor.rows("SELECT body FROM events WHERE type = 'session_warned' ORDER BY seq")]
    assert ['"minutes_left":10' in warned[0], '"minutes_left":5' in warned[1], '"minutes_left":1' in warned[2]] == [True] * 3
    assert floor.controller.get("/healthz")["stations_connected"] == 1  # still connected, free again


async def _connected(agent) -> bool:
    return (await agent.call("status"))["connected"]


async def test_killing_the_controller_mid_sessions_loses_and_duplicates_nothing(make_floor):
    floor = make_floor(120.0)
    floor.controller.start()
    agents = [await floor.add_agent(f"PC-{n:02d}") for n in (1, 2, 3)]
    for a in agents:
        await wait_for(lambda a=a: _connected(a), what="connection")
    rng = random.Random(7)
    for round_ in range(3):
        for a in agents:
            st = await a.call("status")
            if st["session"] is None:
                reply = await a.call("start")
                assert reply["ok"], reply
            await a.call("print", pages=rng.randint(1, 4))
            if rng.random() < 0.5:
                await a.call("help")
        await asyncio.sleep(0.3)
        floor.controller.kill()  # SIGKILL, mid-sessions, with events in flight
        for a in agents:  # the floor goes on while the controller is away
            await a.call("print", pages=1)
            if round_ == 1:
                await a.call("end")
        await asyncio.sleep(0.5)
        floor.controller.start()
    for a in agents:
        await a.call("end")
    for a in agents:
        await a.wait_drained(within=60)

    for a in agents:
        st = await a.call("status")
        rows = floor.rows("SELECT seq FROM events WHERE station = ? ORDER BY seq", a.station)
        # every event the station emitted arrived exactly once, with no gap
        assert [r["seq"] for r in rows] == list(range(1, st["last_seq"] + 1))
        started = floor.rows("SELECT COUNT(*) AS n FROM events WHERE station = ? AND type = 'session_started'", a.station)[0]["n"]
        sessions = floor.rows("SELECT * FROM sessions WHERE station = ?", a.station)
        assert len(sessions) == started >= 2
        assert all(s["end"] is not None for s in sessions)
        pages = floor.rows("SELECT COALESCE(SUM(pages), 0) AS n FROM print_jobs WHERE station = ?", a.station)[0]["n"]
        printed = floor.rows("SELECT COUNT(*) AS n FROM events WHERE station = ? AND type = 'print_job'", a.station)[0]["n"]
        assert printed == 6  # 3 rounds x (1 before the kill + 1 during)
        assert pages >= 6


async def test_with_the_controller_down_for_a_whole_session_the_station_still_enforces_it(make_floor):
    floor = make_floor(300.0)
    floor.controller.start()
    agent = await floor.add_agent("TAB-03")
    await wait_for(lambda: _connected(agent), what="connection")  # rules are cached now
    floor.controller.kill()
    await wait_for(lambda: _disconnected(agent), what="the agent to notice")

    started = await agent.call("start", lang="en")
    assert started["ok"], started
    await wait_for(lambda: _session_over(agent), within=60, what="the offline session to end on the station")
    # started, 3 warnings, ended, reset: all kept on the station (the reset's event follows the end by a few ms)
    await wait_for(lambda: _outbox_holds(agent, 6), what="the six events in the station's outbox")
    assert floor.rows("SELECT COUNT(*) AS n FROM sessions")[0]["n"] == 0

    floor.controller.start()
    await agent.wait_drained(within=60)
    sessions = floor.rows("SELECT * FROM sessions")
    assert len(sessions) == 1
    s = sessions[0]
    assert s["offline"] == 1
    assert s["end_reason"] == "time"
    assert s["warnings"] == 3
    assert s["station_kind"] == "tablet"
    assert s["planned_end"] <= s["end"] < s["planned_end"] + 300


async def _outbox_holds(agent, n: int) -> bool:
    st = await agent.call("status")
    assert st["outbox"] <= n, st
    return st["outbox"] == n


async def _disconnected(agent) -> bool:
    return not (await agent.call("status"))["connected"]


async def _session_over(agent) -> bool:
    return (await agent.call("status"))["session"] is None
