"""The session process's end of the control channel, run inside Tk's event loop.

The link keeps one connection to the agent service's control channel (:mod:`agent.channel`:
a Unix socket on Linux, a named pipe on Windows) with asyncio, reconnecting
with backoff and jitter when the service restarts. Its event loop runs in Tk's own thread:
Tk calls :meth:`ServiceLink.pump` every few tens of milliseconds (``root.after``), which
runs one non-blocking round of the asyncio loop. One thread, on purpose: Tk objects must
only ever be touched -- and garbage-collected -- in the thread that made them, and a
background thread's garbage collection would sooner or later free a Tk font there and
abort the process.

* :meth:`ServiceLink.request` sends a request; its reply comes back later;
* :attr:`ServiceLink.inbox` receives, in order: ``("up",)`` when connected, ``("down",)``
  when the service cannot be reached, ``("ui", {...})`` for every screen update, and
  ``("reply", token, {...})`` for every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import queue
from collections import deque
from pathlib import Path
from typing import Any

from agent import channel
from espace.backoff import backoff_delay

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024


def backoff(attempt: int) -> float:
    """A local socket needs a short cap, and a floor: never spin on a service that is not there."""
    return backoff_delay(attempt, base=0.2, cap=5.0, floor=0.1)


class ServiceLink:
    def __init__(self, path: str | Path, *, transport: channel.Transport | None = None) -> None:
        self.path = str(path)
        self._transport = transport or channel.transport()
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.connected = False
        self._tokens = itertools.count(1)
        self._pending: deque[int] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._main_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._main_task = self._loop.create_task(self._main())
        self.pump()

    def pump(self) -> None:
        """Run one round of the link's event loop without blocking (from Tk's ``after``)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon(loop.stop)
        loop.run_forever()

    def stop(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        assert self._stop is not None
        assert self._main_task is not None
        self._stop.set()
        if self._writer is not None:
            self._writer.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            loop.run_until_complete(asyncio.wait_for(self._main_task, 5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def request(self, op: str, **kw: Any) -> int:
        """Send ``{"op": op, **kw}``; the answer arrives as ``("reply", token, answer)``."""
        token = next(self._tokens)
        self._send_now(token, {"op": op, **kw})
        return token

    def _send_now(self, token: int, req: dict[str, Any]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            self.inbox.put(("reply", token, {"ok": False, "error": "not connected"}))
            return
        self._pending.append(token)  # the service answers one request at a time, in order
        writer.write((json.dumps(req) + "\n").encode())

    async def _main(self) -> None:
        assert self._stop is not None
        attempt = 0
        announced_down = False
        while not self._stop.is_set():
            try:
                reader, writer = await self._transport.connect(self.path, limit=MAX_LINE)
            except OSError as exc:
                if not announced_down:
                    log.warning("session UI: agent service unreachable at %s: %s", self.path, exc)
                    self.inbox.put(("down",))
                    announced_down = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff(attempt))
                attempt += 1
                continue
            attempt, announced_down = 0, False
            self._writer = writer
            self.connected = True
            self.inbox.put(("up",))
            try:
                await self._read(reader)
            finally:
                self.connected = False
                self._writer = None
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                while self._pending:
                    self.inbox.put(
                        ("reply", self._pending.popleft(), {"ok": False, "error": "disconnected"})
                    )
            if not self._stop.is_set():
                log.warning("session UI: the agent service closed the channel; reconnecting")
                self.inbox.put(("down",))
                announced_down = True

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (OSError, ValueError) as exc:  # ValueError: a line over the limit
                log.warning("session UI: control channel broken: %s", exc)
                return
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                log.warning("session UI: ignoring a malformed line from the service")
                continue
            if not isinstance(msg, dict):
                continue
            if "reply" in msg:
                token = self._pending.popleft() if self._pending else 0
                self.inbox.put(("reply", token, msg["reply"]))
            elif "ui" in msg:
                self.inbox.put(("ui", msg))
