"""The local channel between the station service and the session UI: one interface, one transport per OS.

* POSIX (Debian): a Unix socket, mode 0660; the service reads each client's uid with SO_PEERCRED
  and closes any client whose uid is not admitted (:mod:`agent.channel.unix`).
* Windows: a named pipe whose DACL admits only SYSTEM and the visitor's account, that refuses
  remote (SMB) clients, and whose server checks each client's account and logon session
  (:mod:`agent.channel.windows_pipe`).

The service (:func:`agent.control.serve_control`) and the session UI
(:class:`agent.ui.service_link.ServiceLink`) ask :func:`transport` for the transport of the
platform they run on; the message framing above it (line-delimited JSON) is the same on both,
and nothing else knows which one runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

# Who a peer is: a uid on POSIX, a SID string ("S-1-5-18") on Windows.
Identity = int | str
ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


class ChannelServer(Protocol):
    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class Transport(Protocol):
    """What the service and the session UI need from the OS to talk to each other."""

    default_address: str

    def admitted(self, visitor: str | None) -> set[Identity]:
        """The identities the service admits: its own, and the visitor account's (by name)."""
        ...

    async def serve(
        self, handler: ClientHandler, address: str, allowed: set[Identity] | None = None
    ) -> ChannelServer:
        """Listen at ``address``; run ``handler`` for each admitted client (``None``: own identity only)."""
        ...

    async def connect(
        self, address: str, *, limit: int = 64 * 1024
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the channel; raises ``OSError`` when the service is not there."""
        ...


def transport() -> Transport:
    """The transport of the platform this process runs on."""
    if sys.platform == "win32":
        from agent.channel.windows_pipe import PipeTransport

        return PipeTransport()
    from agent.channel.unix import UnixTransport

    return UnixTransport()


def default_address() -> str:
    """Where the service listens unless ``[agent] control_socket`` says otherwise."""
    if sys.platform == "win32":
        from agent.channel.windows_pipe import DEFAULT_ADDRESS

        return DEFAULT_ADDRESS
    from agent.channel.unix import DEFAULT_ADDRESS as UNIX_DEFAULT

    return UNIX_DEFAULT
