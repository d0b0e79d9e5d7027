"""The control channel on POSIX: a Unix socket whose clients are checked by uid (SO_PEERCRED)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import sys
from pathlib import Path

from agent.channel import ChannelServer, ClientHandler, Identity

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "/run/espace-agent/control.sock"


def peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connected client's uid, or None where the OS does not tell (no SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def peer_credentials(writer: asyncio.StreamWriter) -> tuple[int, int] | None:
    """The connected client's (pid, uid), or None where the OS does not tell."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    with contextlib.suppress(OSError):
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
        return int(pid), int(uid)
    return None


def own_uid() -> int:
    if sys.platform == "win32":
        raise RuntimeError("a Unix socket with peer credentials needs a POSIX system")
    return os.getuid()


def _fresh_socket_path(address: str) -> Path:
    """The socket's folder made, and a socket left by a previous run removed."""
    path = Path(address)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return path


class UnixTransport:
    default_address = DEFAULT_ADDRESS

    def admitted(self, visitor: str | None) -> set[Identity]:
        allowed: set[Identity] = {own_uid()}
        if visitor and sys.platform != "win32":
            import pwd

            try:
                allowed.add(pwd.getpwnam(visitor).pw_uid)
            except KeyError:
                log.warning("control: visitor user %r does not exist; only this service's uid is admitted", visitor)
        return allowed

    async def serve(
        self, handler: ClientHandler, address: str, allowed: set[Identity] | None = None
    ) -> ChannelServer:
        if sys.platform == "win32":
            raise RuntimeError("Unix sockets are the POSIX transport; Windows uses the named pipe")
        path = _fresh_socket_path(address)
        uids = allowed if allowed is not None else {own_uid()}

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            uid = peer_uid(writer)
            if uid is not None and uid not in uids:
                log.warning("control: refused a client with uid %s", uid)
                writer.close()
                return
            await handler(reader, writer)

        server = await asyncio.start_unix_server(client, path=str(path))
        os.chmod(path, 0o660)
        return server

    async def connect(
        self, address: str, *, limit: int = 64 * 1024
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if sys.platform == "win32":
            raise RuntimeError("Unix sockets are the POSIX transport; Windows uses the named pipe")
        return await asyncio.open_unix_connection(address, limit=limit)
