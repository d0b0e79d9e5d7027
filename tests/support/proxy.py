"""A loopback TCP proxy between an agent and the controller, that a test can pause or cut.

``cut()`` drops every connection through it and refuses new ones (the cable
is pulled); ``pause()`` keeps connections open but moves no byte in either
direction (a switch that black-holes traffic; TCP backs up as it would);
``restore()`` brings the network back. Runs on the test's event loop and
only ever listens on and connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.procs import free_port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        if target_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the test proxy only forwards to loopback")
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.is_cut = False
        self.connections = 0  # accepted and forwarded, in all

    def ws_url(self, path: str = "/ws/agent") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def close(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---------------------------------------------------------------- faults

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        self.is_cut = True
        self._flowing.set()  # let paused pumps notice and end
        self._drop_all()

    def pause(self) -> None:
        """Keep connections, move nothing."""
        self._flowing.clear()

    def restore(self) -> None:
        self.is_cut = False
        self._flowing.set()

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    # ---------------------------------------------------------------- forwarding

    def _drop_all(self) -> None:
        for a, b in list(self._pipes):
            for w in (a, b):
                with contextlib.suppress(Exception):
                    w.transport.abort()
        self._pipes.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pipes.add(pair)
        self.connections += 1
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            self._pipes.discard(pair)
            for w in pair:
                with contextlib.suppress(Exception):
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                if self.is_cut:
                    return
                data = await reader.read(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                await self._flowing.wait()  # bytes read just before a pause are held back too
                if self.is_cut:
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            writer.transport.abort()
