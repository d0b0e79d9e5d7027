"""An aiohttp app served in-process on a loopback port, for tests that talk to it over HTTP or WebSocket.

Usually the real controller (``create_app``), sometimes a seam that stands in
for it. The port is the one the system gave the listening socket (port 0), so
two tests never race for one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiohttp import web

from controller import stations
from controller.web import keys
from espace import protocol as p


@dataclass
class Served:
    app: web.Application
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{p.WS_PATH}"

    async def add_station(self, station: str) -> str:
        """A fresh, approved token for a station of the controller's site, as ``station add`` issues."""
        return (await self.add_stations([station]))[station]

    async def add_stations(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """Tokens for these stations of the site (every one when ``ids`` is None), in one write."""
        settings = self.app[keys.SETTINGS]
        specs = settings.stations if ids is None else [settings.station(i) for i in ids]
        now = self.app[keys.CLOCK].now()
        return await self.app[keys.STORE].write(
            lambda db: {spec.id: stations.set_token(db, spec, now) for spec in specs}
        )

    async def close(self) -> None:
        await self.runner.cleanup()


async def serve(app: web.Application) -> Served:
    """Start ``app`` (its start-up and ``cleanup_ctx`` included) on 127.0.0.1; ``close()`` stops it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
    except BaseException:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    return Served(app, runner, port)


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[Served]:
    """``serve`` for the length of a ``with`` block."""
    s = await serve(app)
    try:
        yield s
    finally:
        await s.close()
