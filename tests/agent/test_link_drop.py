"""A start request whose link drops is asked again, never granted locally; only a controller away for a while is.

The fake controller here is a seam, not a controller: it welcomes the station
and drops the connection the moment the visitor asks to start (as a malformed
frame the visitor slipped in would make the real one do). Before the fix the
station took the drop for "controller away" and granted itself the session,
so a visitor could take a PC held for someone else's queue ticket.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType, web

from agent.core import Agent
from agent.outbox import Outbox
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import wait_for
from tests.support.served import serve

AWAY = web.AppKey("away", dict)  # {"gone": bool, "socks": set}: mutated, never reassigned


def _rules(clock: ScaledClock, holds: list[p.Slot] | None = None) -> p.Rules:
    now = clock.now()
    return p.Rules(open_slots=[p.Slot(start=now - 3600, end=now + 8 * 3600)], slots_until=now + 86400, holds=holds or [])


def _controller(clock: ScaledClock, answer_after_drops: int, holds: list[p.Slot] | None = None):
    """A seam: drops the link at the first ``answer_after_drops`` start requests, then refuses: the PC is held."""
    asked: list[p.StartRequest] = []
    app = web.Application()
    app[AWAY] = {"gone": False, "socks": set()}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        if app[AWAY]["gone"]:  # the controller went away: every new connection fails
            raise web.HTTPServiceUnavailable()
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        app[AWAY]["socks"].add(sock)
        async for msg in sock:
            if msg.type != WSMsgType.TEXT:
                break
            m = p.decode_from_agent(msg.data)
            if isinstance(m, p.Hello):
                await sock.send_str(p.encode(p.Welcome(station=m.station, server_time=clock.now(), rules=_rules(clock, holds))))
            elif isinstance(m, p.StartRequest):
                asked.append(m)
                if len(asked) <= answer_after_drops:
                    await sock.close()  # the controller goes away with the question unanswered
                else:
                    await sock.send_str(p.encode(p.Refuse(cmd=p.new_id(), request=m.request, reason="reserved")))
        return sock

    app.router.add_get(p.WS_PATH, ws)
    return app, asked


async def _go_away(app: web.Application) -> None:
    app[AWAY]["gone"] = True
    for sock in list(app[AWAY]["socks"]):
        await sock.close()


async def test_a_start_whose_link_drops_is_asked_again_and_the_refusal_holds():
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    app, asked = _controller(clock, answer_after_drops=1)
    controller = await serve(app)
    agent = Agent("PC-07", "t" * 20, controller.ws_url, Outbox(":memory:"), clock=clock, offline_grant_after_s=60.0)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        answer = await agent.start_session()
        assert len(asked) == 2  # asked again once the link was back
        assert isinstance(answer, p.Refuse), answer
        assert answer.reason == "reserved"
        assert agent.session is None  # no local grant out of the dropped link
        assert await agent.outbox.count() == 0  # and no session_started in the outbox
    finally:
        await agent.stop()
        await controller.close()


async def test_a_controller_away_for_a_while_lets_the_station_grant_from_its_cached_rules():
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    app, asked = _controller(clock, answer_after_drops=1)
    controller = await serve(app)
    agent = Agent("PC-07", "t" * 20, controller.ws_url, Outbox(":memory:"), clock=clock, offline_grant_after_s=0.5)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        await _go_away(app)  # the controller is gone for good
        await wait_for(lambda: not agent.connected.is_set(), what="the link to drop")
        answer = await agent.start_session()
        assert isinstance(answer, p.Grant), answer
        assert agent.session is not None
        assert agent.session.session_id == answer.session_id
        assert answer.end - answer.start == 60 * 60  # the full hour, from the cached rules
    finally:
        await agent.stop()
        await controller.close()


async def test_a_pc_held_for_a_queue_ticket_stays_held_when_the_controller_is_away():
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    hold = p.Slot(start=clock.now() - 60, end=clock.now() + 300, label="ticket A12")
    app, _asked = _controller(clock, answer_after_drops=99, holds=[hold])
    controller = await serve(app)
    agent = Agent("PC-07", "t" * 20, controller.ws_url, Outbox(":memory:"), clock=clock, offline_grant_after_s=0.5)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        await _go_away(app)
        await wait_for(lambda: not agent.connected.is_set(), what="the link to drop")
        answer = await agent.start_session()
        assert isinstance(answer, p.Refuse), answer
        assert (answer.reason, answer.until) == ("reserved", hold.end)
        assert agent.session is None
    finally:
        await agent.stop()
        await controller.close()


async def test_a_start_request_the_controller_would_refuse_is_refused_before_it_is_sent():
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    app, asked = _controller(clock, answer_after_drops=0)
    controller = await serve(app)
    agent = Agent("PC-07", "t" * 20, controller.ws_url, Outbox(":memory:"), clock=clock)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        with pytest.raises(p.ProtocolError, match="StartRequest"):
            await agent.start_session("xx", "T" * 40)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert asked == []
        assert agent.connected.is_set()
    finally:
        await agent.stop()
        await controller.close()
