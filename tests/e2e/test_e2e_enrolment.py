"""A station with no token enrols, is approved, gets its own token; revoked and wrong tokens are refused."""

from __future__ import annotations

from espace.enrolcode import code_from_digest
from tests.support.procs import AgentProc, wait_for


async def test_enrol_approve_then_revoke(make_floor):
    floor = make_floor(60.0)
    floor.controller.start()
    agent = AgentProc(floor.tmp, "PC-12", "", floor.controller.ws_url, floor.clock)
    agent.token = ""  # no token: the agent asks to enrol
    await agent.start()
    floor.agents["PC-12"] = agent

    out = await wait_for(lambda: "PC-12" in (o := floor.controller.cli("station", "pending", check=False)).stdout and o.stdout, what="a pending request")
    assert "pending" in out
    assert "host=" in out
    st = await agent.call("status")
    assert not st["connected"]
    assert floor.rows("SELECT token_hash FROM stations WHERE id = 'PC-12'")[0]["token_hash"] is None

    code = code_from_digest(floor.rows("SELECT key_hash FROM enrolments WHERE station = 'PC-12'")[0]["key_hash"])
    assert f"code {code}" in out  # the code the station shows, as the admin compares it
    approved = floor.controller.cli("station", "approve", "PC-12", "--code", code, check=False)
    assert approved.returncode == 0, approved.stderr
    await wait_for(lambda: _connected(agent), within=60, what="the approved station to connect")
    token_file = agent.state / "token"
    assert token_file.exists()
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    token = token_file.read_text()
    stored = floor.rows("SELECT token_hash, status FROM stations WHERE id = 'PC-12'")[0]
    assert stored["status"] == "approved"
    assert token not in stored["token_hash"]
    assert stored["token_hash"].startswith("sha256:")
    assert floor.rows("SELECT COUNT(*) AS n FROM enrolments")[0]["n"] == 0

    revoked = floor.controller.cli("station", "revoke", "PC-12", check=False)
    assert revoked.returncode == 0
    await wait_for(lambda: _disconnected(agent), within=30, what="the revoked station to be dropped")
    # it asks to enrol again, and stays out until approved
    await wait_for(lambda: "PC-12" in floor.controller.cli("station", "pending", check=False).stdout, within=60, what="a new request")
    assert not (await agent.call("status"))["connected"]


async def test_a_wrong_token_is_refused(make_floor):
    floor = make_floor(60.0)
    floor.controller.start()
    floor.controller.add_station("PC-13")
    agent = AgentProc(floor.tmp, "PC-13", "not-the-token", floor.controller.ws_url, floor.clock)
    await agent.start()
    floor.agents["PC-13"] = agent
    await wait_for(lambda: "wrong or revoked token" in floor.controller.log.read_text(), what="the refusal in the log")
    assert not (await agent.call("status"))["connected"]


async def _connected(agent) -> bool:
    return (await agent.call("status"))["connected"]


async def _disconnected(agent) -> bool:
    return not (await agent.call("status"))["connected"]
