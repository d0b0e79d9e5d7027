"""The floor as JSON and as a live feed for dashboards."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from controller.web import keys


async def floor_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.FLOOR].snapshot())


async def floor_ws(request: web.Request) -> web.WebSocketResponse:
    """A snapshot, then every station change as it happens."""
    floor = request.app[keys.FLOOR]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    q = floor.subscribe()
    try:
        await ws.send_str(json.dumps(floor.snapshot()))

        async def pump() -> None:
            while True:
                msg = await q.get()
                await ws.send_str(json.dumps(msg))

        pumping = asyncio.create_task(pump())
        try:
            async for msg in ws:  # dashboards only listen; anything else is ignored
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pumping
    finally:
        floor.unsubscribe(q)
    return ws
