"""A station's identity outlives its token (issue 11), end to end with real processes.

Each station first has 100 events acknowledged (20 visits of 5 events), then 20 more wait in its
outbox while it is cut off, and its token changes in one of the ways IT meets: ``station add``
again, revoke -> the station enrols again -> an admin approves on the dashboard's API, a re-installed
agent with an empty outbox, a token replaced while the station was offline. Afterwards the store
holds every event exactly once (seq 1..N per incarnation of the agent) and the station's figures are
what the simulated visitors did. On the old main each of these wedged the station for good: its next
event was refused as a gap ("sequence 101 skips 1") or collided with the unique (station, seq) index.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for
from tests.support.proxy import TcpProxy
from tests.support.seqs import Admin, Visits, add_admin, assert_every_event_once, log_count, outbox

# a quiet Thursday morning at x10: 20 short visits take a few virtual minutes, far from any warning or closing
START, SPEED = "2026-11-19T10:00", 10.0


@pytest.fixture
async def site(tmp_path: Path):
    made: list = []
    clock = shared_clock(START, SPEED)
    ctl = ControllerProc(tmp_path, clock)
    made.append(ctl)

    async def agent(station: str, token: str, url: str, state: Path | None = None) -> AgentProc:
        # these tests are about identity, not backoff: reconnections come 5 times sooner
        a = AgentProc(tmp_path, station, token, url, clock, extra=["--backoff-scale", "0.2"])
        if state is not None:
            a.state = state
        made.append(a)
        await a.start()
        return a

    async def proxy() -> TcpProxy:
        px = TcpProxy(ctl.port)
        made.append(px)
        await px.start()
        return px

    yield ctl, agent, proxy, clock
    for x in reversed(made):
        if isinstance(x, AgentProc):
            await x.kill()
        elif isinstance(x, ControllerProc):
            x.kill()
        else:
            await x.close()


async def connected(a: AgentProc) -> bool:
    return (await a.call("status"))["connected"]


async def _code(a: AgentProc) -> str | None:
    return (await a.call("status"))["enrolment"]


async def offline(a: AgentProc) -> bool:
    return not (await a.call("status"))["connected"]


async def hundred_acked_then_twenty_waiting(a: AgentProc, px: TcpProxy, truth: Visits) -> None:
    await wait_for(lambda: connected(a), what=f"{a.station} to connect")
    await truth.sessions_on(a, 20)
    await a.wait_drained()
    assert outbox(a)["last_seq"] == 100
    px.cut()
    await wait_for(lambda: offline(a), what=f"{a.station} to notice the cut")
    await truth.sessions_on(a, 4)  # granted from the cached rules
    assert (await a.call("status"))["outbox"] == 20


async def test_station_add_again_gives_a_new_token_and_the_sequence_goes_on(site):
    ctl, agent, proxy, _ = site
    old_token = ctl.add_station("PC-07")
    ctl.start()
    px = await proxy()
    a = await agent("PC-07", old_token, px.ws_url())
    truth = Visits()
    await hundred_acked_then_twenty_waiting(a, px, truth)

    new_token = ctl.add_station("PC-07")  # IT re-enrols the PC from the command line and types the new token in
    await a.kill()
    px.restore()
    a = await agent("PC-07", new_token, px.ws_url(), state=a.state)
    await a.wait_drained(within=60)
    await truth.session(a)  # and it goes on
    await a.wait_drained()
    assert_every_event_once(ctl.db, "PC-07", {outbox(a)["incarnation"]: 125}, truth)
    assert log_count(ctl.log, "skips") == 0


async def test_revoke_enrol_again_and_approve_on_the_dashboard_continue_the_sequence(site):
    ctl, agent, proxy, _ = site
    token = ctl.add_station("PC-08")
    add_admin(ctl)
    ctl.start()
    px = await proxy()
    a = await agent("PC-08", token, px.ws_url())
    truth = Visits()
    await wait_for(lambda: connected(a), what="PC-08 to connect")
    await truth.sessions_on(a, 20)
    await a.wait_drained()
    admin = await Admin(ctl).login()
    try:
        # the README's recovery, as the floor page does it: revoke, the station asks to enrol, approve
        status, _ = await admin.call("POST", "/api/stations/PC-08/revoke")
        assert status == 200
        await wait_for(lambda: offline(a), what="the revoked station to be dropped")
        await truth.sessions_on(a, 4)  # the visitors go on meanwhile: 20 events wait in the outbox
        assert (await a.call("status"))["outbox"] == 20

        async def asked() -> list:
            _, body = await admin.call("GET", "/api/enrolments")
            return [r for r in body["enrolments"] if r["station"] == "PC-08" and r["status"] == "pending"]

        request = (await wait_for(asked, within=60, what="PC-08's enrolment request"))[0]
        assert request["fingerprint"] == (await a.call("status"))["enrolment"]  # the code the station shows
        status, body = await admin.call("POST", "/api/enrolments/PC-08/approve", {"code": request["fingerprint"]})
        assert status == 200, body
    finally:
        await admin.close()
    await wait_for(lambda: connected(a), within=60, what="the approved station to connect")
    await a.wait_drained(within=60)
    assert_every_event_once(ctl.db, "PC-08", {outbox(a)["incarnation"]: 120}, truth)
    assert log_count(ctl.log, "skips") == 0


async def test_a_reinstalled_agent_with_an_empty_outbox_starts_a_new_incarnation(site):
    ctl, agent, _, _ = site
    token = ctl.add_station("PC-09")
    ctl.start()
    a = await agent("PC-09", token, ctl.ws_url)
    truth = Visits()
    await wait_for(lambda: connected(a), what="PC-09 to connect")
    await truth.sessions_on(a, 20)
    await a.wait_drained()
    first = outbox(a)["incarnation"]

    await a.kill()  # the PC is re-imaged: its state folder (outbox, token, numbering) is gone
    shutil.rmtree(a.state)
    a = await agent("PC-09", ctl.add_station("PC-09"), ctl.ws_url)
    await wait_for(lambda: connected(a), what="the re-installed PC-09 to connect")
    await truth.sessions_on(a, 4)
    await a.wait_drained()
    second = outbox(a)["incarnation"]
    assert second != first
    assert outbox(a)["last_seq"] == 20  # it numbers from 1 again
    assert_every_event_once(ctl.db, "PC-09", {first: 100, second: 20}, truth)
    assert log_count(ctl.log, "closing (4503)") == 0


async def test_a_token_replaced_while_the_station_was_offline(site):
    ctl, agent, proxy, _ = site
    token = ctl.add_station("PC-10")
    ctl.start()
    px = await proxy()
    a = await agent("PC-10", token, px.ws_url())
    truth = Visits()
    await hundred_acked_then_twenty_waiting(a, px, truth)

    ctl.add_station("PC-10")  # the admin replaces the token; nobody tells the station
    px.restore()
    # it comes back with the old token, is refused, asks to enrol (keeping its events), is approved
    await wait_for(lambda: "PC-10" in ctl.cli("station", "pending").stdout, within=60, what="PC-10 to ask to enrol again")
    code = await wait_for(lambda: _code(a), what="the code on PC-10's screen")
    # it holds a token (the one nobody gave it): approving its key is a re-enrolment, confirmed
    approved = ctl.cli("station", "approve", "PC-10", "--code", code, "--reenrol", check=False)
    assert approved.returncode == 0, approved.stderr
    await wait_for(lambda: connected(a), within=60, what="PC-10 to connect with its new token")
    await a.wait_drained(within=60)
    assert_every_event_once(ctl.db, "PC-10", {outbox(a)["incarnation"]: 120}, truth)
    assert log_count(ctl.log, "skips") == 0
