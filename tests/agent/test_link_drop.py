"""A start request in flight when the link drops: the visitor gets a grant from the cached rules.

The fake controller here is a seam, not a controller: it welcomes the station,
then drops the connection the moment the visitor asks to start. Before the fix
the pending request was cancelled, and the CancelledError killed the caller
(the control channel the session UI talks through closed).
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from agent.core import Agent
from agent.outbox import Outbox
from espace import protocol as p
from espace.clock import ScaledClock, parse_instant
from tests.support.procs import wait_for
from tests.support.served import serve


async def test_a_start_in_flight_when_the_link_drops_falls_back_to_the_cached_rules():
    clock = ScaledClock(parse_instant("2026-11-19T10:00"), 1.0)
    asked = asyncio.Event()

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type != WSMsgType.TEXT:
                break
            m = p.decode_from_agent(msg.data)
            if isinstance(m, p.Hello):
                rules = p.Rules(open_slots=[p.Slot(start=clock.now() - 3600, end=clock.now() + 8 * 3600)], slots_until=clock.now() + 86400)
                await sock.send_str(p.encode(p.Welcome(station=m.station, server_time=clock.now(), rules=rules)))
            elif isinstance(m, p.StartRequest):
                asked.set()
                await sock.close()  # the controller goes away with the question unanswered
        return sock

    app = web.Application()
    app.router.add_get(p.WS_PATH, ws)
    controller = await serve(app)
    agent = Agent("PC-07", "t" * 20, controller.ws_url, Outbox(":memory:"), clock=clock)
    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        answer = await agent.start_session()
        assert asked.is_set()
        assert isinstance(answer, p.Grant), answer
        assert agent.session is not None
        assert agent.session.session_id == answer.session_id
        assert answer.end - answer.start == 60 * 60  # the full hour, from the cached rules
    finally:
        await agent.stop()
        await controller.close()
