"""The controller over TLS with its own certificate; agents pin its fingerprint."""

from __future__ import annotations

from controller.tls import fingerprint, make_self_signed
from tests.support.procs import AgentProc, ControllerProc, shared_clock, wait_for


async def test_an_agent_pinning_the_right_fingerprint_connects_and_a_wrong_pin_does_not(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    fp = make_self_signed(cert, key, ["localhost", "127.0.0.1"])
    assert fp == fingerprint(cert)
    assert len(fp) == 64
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    site = tmp_path / "site.toml"
    site.write_text(f'tls_cert = "{cert}"\ntls_key = "{key}"\n', encoding="utf-8")
    clock = shared_clock(speed=60)
    ctl = ControllerProc(tmp_path, clock, config=site, tls=True)
    agents: list[AgentProc] = []
    try:
        ctl.start()
        good = AgentProc(tmp_path, "PC-01", ctl.add_station("PC-01"), ctl.ws_url, clock, extra=["--tls-fingerprint", fp])
        bad = AgentProc(tmp_path, "PC-02", ctl.add_station("PC-02"), ctl.ws_url, clock, extra=["--tls-fingerprint", "ab" * 32])
        agents += [good, bad]
        await good.start()
        await bad.start()
        await wait_for(lambda: _connected(good), what="the pinned agent to connect over wss")
        assert (await good.call("start"))["ok"]
        await good.wait_drained()
        await wait_for(lambda: "FingerprintMismatch" in bad.log.read_text(), what="the wrong pin to be refused")
        assert not (await bad.call("status"))["connected"]
        assert "PC-01@127.0.0.1: connected" in ctl.log.read_text()
        assert "PC-02@127.0.0.1: connected" not in ctl.log.read_text()
    finally:
        for a in agents:
            await a.kill()
        ctl.kill()


async def _connected(agent) -> bool:
    return (await agent.call("status"))["connected"]
