"""The print quota: warned at 80 %, further jobs held at 100 %, released at the reset."""

from __future__ import annotations

import pytest

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import FakePrints, PrintRecord
from agent.probes.print_gate import CupsPrintGate, FakePrintGate
from controller.app import create_app
from controller.settings import make_settings
from controller.web import keys
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from tests.support.cups import cups_missing_reason, private_cups, tiny_pdf
from tests.support.procs import wait_for
from tests.support.served import serve


async def test_quota_warns_then_holds_then_releases(tmp_path):
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    controller = await serve(create_app(make_settings(database=str(tmp_path / "c.db"), print_quota_pages=10), clock))
    token = await controller.add_station("PC-05")
    prints, gate = FakePrints(), FakePrintGate()
    agent = Agent("PC-05", token, controller.ws_url, Outbox(":memory:"), clock=clock,
                  probes=Probes(prints=prints, print_gate=gate), print_poll_s=0.05)
    ui: list[dict] = []
    agent.ui_listeners.append(ui.append)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        await agent.start_session()

        async def job(pages: int) -> dict:
            before = len([m for m in ui if m["ui"] == "prints"])
            prints.add(PrintRecord(job=f"j{len(ui)}", printer="PRN-1", pages=pages, at=clock.now()))
            await wait_for(lambda: len([m for m in ui if m["ui"] == "prints"]) > before, what="the print to be counted")
            return [m for m in ui if m["ui"] == "prints"][-1]

        assert (await job(5)) == {"ui": "prints", "pages": 5, "quota": 10, "state": "ok"}
        assert (await job(3))["state"] == "warn"
        assert not gate.held
        assert (await job(4)) == {"ui": "prints", "pages": 12, "quota": 10, "state": "held"}
        assert gate.held
        assert gate.calls == ["hold"]
        await agent.end_by_visitor()
        assert not gate.held
        assert gate.calls == ["hold", "release"]
    finally:
        await agent.stop()
        await controller.close()


@pytest.mark.skipif(cups_missing_reason() is not None, reason=str(cups_missing_reason()))
def test_the_cups_gate_denies_the_visitor_and_allows_again(tmp_path):
    with private_cups(tmp_path) as cups:
        gate = CupsPrintGate("root", server=cups.server)
        doc = tiny_pdf(tmp_path / "a.pdf", 1)
        assert gate.hold()
        with pytest.raises(RuntimeError, match="Not allowed to print"):
            cups.lp(doc, "after the quota")
        assert gate.release()
        assert cups.lp(doc, "next visitor") > 0


async def test_a_double_tap_on_start_starts_one_session(tmp_path):
    import asyncio

    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    controller = await serve(create_app(make_settings(database=str(tmp_path / "c.db")), clock))
    app = controller.app
    token = await controller.add_station("PC-06")
    agent = Agent("PC-06", token, controller.ws_url, Outbox(":memory:"), clock=clock)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        first, second = await asyncio.gather(agent.start_session(), agent.start_session())
        assert isinstance(first, p.Grant)
        assert second is None  # busy: the first tap already holds the station
        await agent.end_by_visitor()
        await wait_for(lambda: _outbox_empty(agent), what="the outbox to drain")
        rows = await app[keys.STORE].read(lambda db: db.execute("SELECT COUNT(*) FROM sessions WHERE station = 'PC-06'").fetchone()[0])
        assert rows == 1
    finally:
        await agent.stop()
        await controller.close()


async def _outbox_empty(agent) -> bool:
    return await agent.outbox.count() == 0
