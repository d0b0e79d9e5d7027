"""The control channel's transports: the Unix socket's uid check, and the Windows named pipe
driven at its OS seam by a fake of the pipe and token calls (no Windows here).

The fake plays Windows' part: it creates pipe instances (refusing a name already taken when
the server asks for the first instance, as FILE_FLAG_FIRST_PIPE_INSTANCE does), applies the
security descriptor the server wrote when a client opens the pipe (as the kernel's access
check does), and reports the connected client's account and session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from agent.channel.unix import UnixTransport
from agent.channel.windows_pipe import DEFAULT_ADDRESS, Peer, PipeTransport, pipe_sddl
from agent.control import ControlClient, serve_control
from agent.core import Agent, Probes
from agent.outbox import Outbox

VISITOR = "S-1-5-21-3623811015-3361044348-30300820-1013"
STEWARD = "S-1-5-21-3623811015-3361044348-30300820-1014"
ADMIN_RUN = "S-1-5-21-3623811015-3361044348-30300820-500"
SYSTEM = "S-1-5-18"
CONSOLE = 1  # the visitor's auto-logon session at the console


class FakePipe:
    def __init__(self, address: str, sddl: str, first: bool) -> None:
        self.address, self.sddl, self.first = address, sddl, first
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.peer: Peer | None = None
        self.sock: socket.socket | None = None
        self.closed = False


def _granted(sddl: str, sid: str, network: bool) -> bool:
    """The access check for GENERIC_READ|GENERIC_WRITE, as Windows applies these ACEs."""
    for kind, rights, who in re.findall(r"\((A|D);;([A-Z]+);;;([^)]+)\)", sddl):
        applies = who == sid or (who == "SY" and sid == SYSTEM) or (who == "NU" and network)
        if not applies:
            continue
        if kind == "D":
            return False
        if rights == "GA" or ("GR" in rights and "GW" in rights):
            return True
    return False


class FakeWindows:
    """:class:`agent.channel.windows_pipe.PipeOps` without Windows."""

    def __init__(self, *, own: str = SYSTEM, server_session: int = 0) -> None:
        self.own = own
        self.accounts = {"visitor": VISITOR, "steward": STEWARD}
        self.console = CONSOLE
        self.server_session = server_session
        self.created: list[FakePipe] = []
        self.client_as = Peer(VISITOR, CONSOLE, 4242)
        self.network = False

    def own_sid(self) -> str:
        return self.own

    def account_sid(self, name: str) -> str | None:
        return self.accounts.get(name)

    def console_session(self) -> int:
        return self.console

    def live(self, address: str) -> list[FakePipe]:
        return [p for p in self.created if p.address == address and not p.closed]

    def create(self, address: str, sddl: str, *, first: bool) -> FakePipe:
        if first and self.live(address):
            raise PermissionError(13, "Access is denied")  # ERROR_ACCESS_DENIED
        pipe = FakePipe(address, sddl, first)
        self.created.append(pipe)
        return pipe

    async def accept(self, pipe: FakePipe) -> None:
        await pipe.connected

    def client(self, pipe: FakePipe) -> Peer:
        assert pipe.peer is not None
        return pipe.peer

    async def streams(self, pipe: FakePipe, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(sock=pipe.sock, limit=limit)

    def close(self, pipe: FakePipe) -> None:
        pipe.closed = True
        if pipe.sock is not None:
            pipe.sock.close()
        if not pipe.connected.done():
            pipe.connected.cancel()

    async def connect(self, address: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
        free = [p for p in self.live(address) if not p.connected.done()]
        if not free:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        pipe = free[0]
        if not _granted(pipe.sddl, self.client_as.sid, self.network):
            raise PermissionError(13, "Access is denied")
        ours, theirs = socket.socketpair()
        pipe.sock, pipe.peer = ours, self.client_as
        pipe.connected.set_result(None)
        reader, writer = await asyncio.open_connection(sock=theirs, limit=limit)
        return reader, writer, self.server_session


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    outbox = Outbox(tmp_path / "outbox.db")
    yield Agent("PC-07", "token", "ws://127.0.0.1:9/ws/agent", outbox, probes=Probes())
    outbox.close()


async def _status(transport: Any, address: str) -> dict[str, Any]:
    client = await ControlClient.connect(address, transport=transport)
    try:
        return await asyncio.wait_for(client.call("status"), 10)
    finally:
        await client.close()


def test_the_pipe_dacl_admits_system_and_the_visitor_only_and_no_network_logon() -> None:
    assert pipe_sddl({VISITOR, SYSTEM}) == f"D:P(D;;GA;;;NU)(A;;GA;;;S-1-5-18)(A;;GRGW;;;{VISITOR})"


def test_the_service_admits_itself_and_the_named_visitor(caplog: pytest.LogCaptureFixture) -> None:
    transport = PipeTransport(FakeWindows())
    assert transport.admitted("visitor") == {SYSTEM, VISITOR}
    with caplog.at_level(logging.WARNING):
        assert transport.admitted("nobody") == {SYSTEM}
    assert "'nobody' does not exist" in caplog.text


async def test_the_visitors_screen_talks_to_the_service_over_the_pipe(agent: Agent) -> None:
    win = FakeWindows()
    transport = PipeTransport(win)
    server = await serve_control(agent, DEFAULT_ADDRESS, transport.admitted("visitor"), transport=transport)
    try:
        first = win.created[0]
        assert first.first
        assert first.sddl == pipe_sddl({SYSTEM, VISITOR})
        for _ in range(2):  # one client after the other: a free instance is always ready
            reply = await _status(transport, DEFAULT_ADDRESS)
            assert reply["ok"] is True
            assert reply["session"] is None
        assert all(not p.first for p in win.created[1:])
        win.client_as = Peer(SYSTEM, 0, 4)  # the service's own account, from session 0
        assert (await _status(transport, DEFAULT_ADDRESS))["ok"] is True
    finally:
        server.close()
        await server.wait_closed()
    assert win.created[-1].closed
    assert win.created[-1].peer is None


async def test_other_accounts_sessions_and_the_network_are_refused(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    win = FakeWindows()
    transport = PipeTransport(win)
    server = await serve_control(agent, DEFAULT_ADDRESS, transport.admitted("visitor"), transport=transport)
    try:
        win.client_as = Peer(STEWARD, CONSOLE, 77)  # another local account: the DACL stops it
        with pytest.raises(PermissionError):
            await _status(transport, DEFAULT_ADDRESS)
        win.client_as, win.network = Peer(VISITOR, CONSOLE, 78), True  # the visitor's name over SMB
        with pytest.raises(PermissionError):
            await _status(transport, DEFAULT_ADDRESS)
        win.network = False
        win.client_as = Peer(VISITOR, 5, 79)  # the visitor's account, but not the console session
        with caplog.at_level(logging.WARNING), pytest.raises(ConnectionError):
            await _status(transport, DEFAULT_ADDRESS)
        assert f"refused a pipe client (account {VISITOR}, session 5, pid 79)" in caplog.text
        win.client_as = Peer(VISITOR, CONSOLE, 80)  # and the visitor at the console still gets in
        assert (await _status(transport, DEFAULT_ADDRESS))["ok"] is True
    finally:
        server.close()
        await server.wait_closed()


async def test_a_pipe_name_already_taken_stops_the_service_from_starting(agent: Agent) -> None:
    win = FakeWindows()
    win.create(DEFAULT_ADDRESS, "D:(A;;GA;;;WD)", first=True)  # a visitor's program got there first
    with pytest.raises(PermissionError):
        await serve_control(agent, DEFAULT_ADDRESS, None, transport=PipeTransport(win))


async def test_the_screen_does_not_talk_to_a_pipe_served_outside_session_0(agent: Agent) -> None:
    squatter = FakeWindows(own=VISITOR, server_session=CONSOLE)  # a server started by the visitor
    transport = PipeTransport(squatter)
    server = await serve_control(agent, DEFAULT_ADDRESS, None, transport=transport)
    try:
        with pytest.raises(PermissionError, match="session 1, not by a service"):
            await ControlClient.connect(DEFAULT_ADDRESS, transport=transport)
    finally:
        server.close()
        await server.wait_closed()


async def test_the_pipe_transport_refuses_a_socket_path() -> None:
    with pytest.raises(ValueError, match=r"named pipe"):
        await PipeTransport(FakeWindows()).serve(_never, "/run/espace-agent/control.sock")


async def _never(_r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
    raise AssertionError("no client expected")


async def test_the_unix_socket_refuses_a_uid_it_does_not_admit(agent: Agent, tmp_path: Path) -> None:
    transport = UnixTransport()
    sock = str(tmp_path / "run" / "control.sock")  # its folder is made
    server = await serve_control(agent, sock, {os.getuid() + 4321}, transport=transport)
    try:
        with pytest.raises(ConnectionError):
            await _status(transport, sock)
    finally:
        server.close()
        await server.wait_closed()
    server = await serve_control(agent, sock, transport.admitted(None), transport=transport)
    try:
        assert (await _status(transport, sock))["ok"] is True
        assert os.stat(sock).st_mode & 0o777 == 0o660
    finally:
        server.close()
        await server.wait_closed()
