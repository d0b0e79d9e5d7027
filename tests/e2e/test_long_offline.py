"""A PC left unplugged for 40 days replays everything; its old events wait in quarantine (issue 11).

The station's visits before it went off are counted; the visits it had while cut off reach the
controller 40 simulated days later, are kept in quarantine (not counted, not lost), an admin accepts
them on the dashboard's API, and the annual figures then include them. The processes are stopped
and started again on a clock 40 days on (as a PC switched off for the summer is). On the old main
these events were refused as "too far from the controller's clock" and dropped by the agent.
"""

from __future__ import annotations

import signal
from pathlib import Path

from espace.clock import ScaledClock
from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for
from tests.support.seqs import (
    Admin,
    Visits,
    add_admin,
    annual,
    assert_every_event_once,
    outbox,
    station_seqs,
)

DAY = 86400.0


async def test_forty_days_offline_the_old_events_wait_in_quarantine_until_an_admin_accepts_them(tmp_path: Path):
    clock = shared_clock("2026-11-19T10:00", 10.0)
    ctl = ControllerProc(tmp_path, clock)
    token = ctl.add_station("PC-31")
    add_admin(ctl)
    ctl.start()
    a = AgentProc(tmp_path, "PC-31", token, ctl.ws_url, clock)
    truth = Visits()
    try:
        await a.start()
        await wait_for(lambda: a.call("status"), what="the agent")
        await wait_for(lambda: _connected(a), what="PC-31 to connect")
        await truth.sessions_on(a, 2)
        await a.wait_drained()

        ctl.kill()  # the network is gone; the PC goes on for a while, then is switched off
        await wait_for(lambda: _offline(a), what="PC-31 to notice")
        await truth.session(a)
        assert (await a.call("start"))["ok"]  # a visit with a print
        truth.sessions[a.station] += 1
        assert (await a.call("print", pages=3))["ok"]
        await wait_for(lambda: _printed(a), what="the print job in the outbox")
        assert (await a.call("help"))["ok"]
        truth.help[a.station] += 1
        assert (await a.call("cancel_help"))["ok"]
        assert (await a.call("end"))["ok"]
        await truth.session(a)
        waiting = (await a.call("status"))["outbox"]
        assert waiting == 3 * 5 + 1
        await a.kill(signal.SIGTERM)

        later = ScaledClock(clock.now() + 40 * DAY, 10.0)  # 40 days on, both machines are switched on again
        ctl.clock = a.clock = later
        ctl.start()
        await a.start()
        await a.wait_drained(within=60)  # everything replayed and acknowledged: kept, not dropped
        await truth.session(a)  # a visit today is counted at once
        await a.wait_drained()

        seqs = station_seqs(ctl.db, "PC-31")[outbox(a)["incarnation"]]
        assert seqs == list(range(1, 2 * 5 + waiting + 5 + 1))  # every event once, the old ones in quarantine
        before = annual(ctl)
        assert int(before["Sessions on PCs"]) == 3  # the quarantined visits are left out ...
        assert int(before["Pages printed"]) == 0

        admin = await Admin(ctl).login()
        try:
            status, body = await admin.call("GET", "/api/quarantine")
            assert status == 200
            assert body["waiting"] == waiting
            assert all("days before the controller's clock" in e["reason"] for e in body["events"])
            decisions = 0
            while body["waiting"]:
                status, done = await admin.call("POST", f"/api/quarantine/{body['events'][0]['id']}/accept")
                assert status == 200, done
                decisions += 1
                _, body = await admin.call("GET", "/api/quarantine")
            assert decisions == 3  # one per visit: a session's events are decided together
            status, again = await admin.call("POST", f"/api/quarantine/{done['events'][0]}/accept")
            assert status == 404
            assert again["error"] == "no_quarantine"
        finally:
            await admin.close()

        after = annual(ctl)  # ... until accepted
        assert int(after["Sessions on PCs"]) == truth.sessions["PC-31"] == 6
        assert int(after["Pages printed"]) == 3
        assert int(after["Help requests"]) == truth.help["PC-31"]
        assert_every_event_once(ctl.db, "PC-31", {outbox(a)["incarnation"]: 2 * 5 + waiting + 5}, truth)
    finally:
        await a.kill()
        ctl.kill()


async def _connected(a: AgentProc) -> bool:
    return (await a.call("status"))["connected"]


async def _offline(a: AgentProc) -> bool:
    return not await _connected(a)


async def _printed(a: AgentProc) -> bool:
    return (await a.call("status"))["prints_pending"] == 0
