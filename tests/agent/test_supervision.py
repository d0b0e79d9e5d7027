"""No loop of the agent dies silently: a failure is logged and the loop starts again."""

from __future__ import annotations

import sqlite3

import pytest

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import FakePrints, PrintRecord
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import wait_for


class FlakyPrints(FakePrints):
    """The OS print log fails to read twice (a rotated file, a CUPS restart), then works."""

    failures = 2

    def poll(self) -> list[PrintRecord]:
        if self.failures:
            self.failures -= 1
            raise OSError("page_log: No such file or directory")
        return super().poll()


class FullOutbox(Outbox):
    """An outbox on a full disk until ``full`` is cleared."""

    full = True

    async def add(self, build):  # type: ignore[no-untyped-def]
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return await super().add(build)

    async def put(self, key, value):  # type: ignore[no-untyped-def]
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        await super().put(key, value)


def _agent(outbox: Outbox, prints: FakePrints | None = None) -> Agent:
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    agent = Agent("PC-07", "t" * 20, "ws://127.0.0.1:9/ws/agent", outbox, clock=clock, probes=Probes(prints=prints or FakePrints()))
    agent.print_poll_s = 0.02
    agent.offline_grant_after_s = 0.1  # no controller in these tests: the station is on its own at once
    return agent


async def test_a_print_loop_that_fails_is_logged_and_started_again(caplog: pytest.LogCaptureFixture):
    prints = FlakyPrints()
    agent = _agent(Outbox(":memory:"), prints)
    try:
        await agent.start()
        prints.add(PrintRecord(job="1", printer="PRN-1", pages=2, at=agent.clock.now()))
        await wait_for(lambda: agent.outbox.count(), within=20, what="the print job to reach the outbox")
        assert prints.failures == 0
        failed = [r for r in caplog.records if "the prints loop failed" in r.getMessage()]
        assert len(failed) == 2
    finally:
        await agent.stop()


async def test_a_full_outbox_keeps_events_in_memory_in_order_and_writes_them_when_space_returns():
    outbox = FullOutbox(":memory:")
    agent = _agent(outbox)
    try:
        await agent.start()
        granted = await agent.start_session()  # no link: after offline_grant_after_s, from the (default) rules
        assert isinstance(granted, p.Grant)
        assert agent.session is not None
        await agent.request_help()
        assert set(agent.problems) == {"disk_full"}
        assert [type(b(1)).__name__ for b in agent._unwritten] == ["SessionStarted", "HelpRequested"]
        outbox.full = False
        await wait_for(lambda: not agent._unwritten, within=20, what="the events to be written")
        kinds = [p.decode_from_agent(body) for _seq, _id, body in await outbox.pending()]
        assert [(type(k).__name__, k.seq) for k in kinds] == [("SessionStarted", 1), ("HelpRequested", 2)]
        assert "disk_full" not in agent.problems
        assert (await outbox.get("session"))["session_id"] == granted.session_id  # the state kept meanwhile, stored
    finally:
        await agent.stop()
