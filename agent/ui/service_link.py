"""The session process's end of the control channel, run beside Tk's event loop.

Tk owns the main thread; this link runs an asyncio loop in a background thread that keeps
one connection to the agent service's Unix socket (reconnecting with backoff and jitter
when the service restarts). The two threads meet only in thread-safe places:

* :meth:`ServiceLink.request` (any thread) queues a request; its reply comes back later;
* :attr:`ServiceLink.inbox` (a ``queue.SimpleQueue``) receives, in order:
  ``("up",)`` when connected, ``("down",)`` when the service cannot be reached,
  ``("ui", {...})`` for every screen update, ``("reply", token, {...})`` for every request.

Tk's side polls the inbox with ``root.after`` (see :mod:`agent.ui.session_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import queue
import random
import threading
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024


def backoff(
    attempt: int, base: float = 0.2, cap: float = 5.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter; a local socket needs a short cap."""
    r = rng or random
    return r.uniform(base / 2, min(cap, base * (2 ** min(attempt, 12))))


class ServiceLink:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.connected = False
        self._tokens = itertools.count(1)
        self._pending: deque[int] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service-link", daemon=True)

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(10)

    def request(self, op: str, **kw: Any) -> int:
        """Send ``{"op": op, **kw}``; the answer arrives as ``("reply", token, answer)``."""
        token = next(self._tokens)
        loop = self._loop
        if loop is None or loop.is_closed():
            self.inbox.put(("reply", token, {"ok": False, "error": "not connected"}))
            return token
        try:
            loop.call_soon_threadsafe(self._send_now, token, {"op": op, **kw})
        except RuntimeError:  # the loop is closing
            self.inbox.put(("reply", token, {"ok": False, "error": "not connected"}))
        return token

    # -- the link's thread --------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _shutdown(self) -> None:
        assert self._stop is not None
        self._stop.set()
        if self._writer is not None:
            self._writer.close()

    def _send_now(self, token: int, req: dict[str, Any]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            self.inbox.put(("reply", token, {"ok": False, "error": "not connected"}))
            return
        self._pending.append(token)  # the service answers one request at a time, in order
        writer.write((json.dumps(req) + "\n").encode())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._ready.set()
        attempt = 0
        announced_down = False
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_LINE)
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
