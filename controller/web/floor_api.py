"""The floor as JSON and as a live feed for dashboards."""

from __future__ import annotations

from aiohttp import web

from controller.web import keys


async def floor_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.FLOOR].snapshot())
