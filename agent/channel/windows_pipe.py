"""The control channel on Windows: a named pipe that only the visitor's session and the service open.

Three locks, each enough against a different caller:

* the pipe's **DACL** (:func:`pipe_sddl`) grants access to SYSTEM (the service) and to the
  visitor's account only, and denies every network logon; other local accounts (a steward's,
  a guest's) cannot even open it;
* the pipe refuses **remote clients** (``PIPE_REJECT_REMOTE_CLIENTS``): nothing reaches it over SMB;
* the server reads each connected client's **account and logon session**
  (``GetNamedPipeClientProcessId``, the process token, ``GetNamedPipeClientSessionId``) and
  closes it unless it is the service's own account, or the visitor's account in the session
  at the console (:class:`Admission`) -- the equivalent of the Unix socket's SO_PEERCRED check.

The session UI, in turn, checks that the server it reached runs in session 0, where only
services run, so a visitor's program that created a pipe of the same name (a pipe-instance
squat) cannot pose as the service to the screen. The service creates the first instance with
``FILE_FLAG_FIRST_PIPE_INSTANCE``: if the name is already taken it refuses to start rather
than share it.

Why the visitor's *account* SID in the DACL rather than the logon SID of the visitor's session:
the logon SID changes at every log-on (after every reset, with auto-logon), so the pipe would
have to be re-created with a new DACL at each one, racing the session UI that connects at
log-on; the account SID plus the server's session check admits the same processes.

Asyncio's own ``start_serving_pipe`` creates its pipes with no security attributes (the
default DACL lets Everyone read) and accepts remote clients, hence this server. The Windows
calls sit behind :class:`PipeOps`; :class:`Win32PipeOps` makes them with pywin32 on the
ProactorEventLoop, and the tests drive everything above it with a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.channel import ChannelServer, ClientHandler, Identity

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = r"\\.\pipe\espace-agent"
SYSTEM_SID = "S-1-5-18"  # LocalSystem: the service
SERVICE_SESSION = 0  # services run in session 0; no visitor program can
BUFSIZE = 64 * 1024


def pipe_sddl(allowed: set[str]) -> str:
    """The pipe's security descriptor: protected DACL, network logons denied, SYSTEM and ``allowed`` only.

    ``GRGW`` (generic read and write) is what a client needs to open the pipe for a duplex
    stream (asyncio's client asks for both); SYSTEM gets full control.
    """
    aces = ["(D;;GA;;;NU)", f"(A;;GA;;;{SYSTEM_SID})"]  # NU: the NETWORK logon group (S-1-5-2)
    aces += [f"(A;;GRGW;;;{sid})" for sid in sorted(allowed - {SYSTEM_SID})]
    return "D:P" + "".join(aces)


@dataclass(frozen=True, slots=True)
class Peer:
    """A connected client as Windows reports it."""

    sid: str
    session: int
    pid: int = 0


@dataclass(frozen=True)
class Admission:
    """Which clients the server keeps: its own account anywhere; the others in the console session."""

    own: str
    allowed: frozenset[str]
    console_session: Callable[[], int]

    def admits(self, peer: Peer) -> bool:
        if peer.sid in (self.own, SYSTEM_SID):
            return True
        return peer.sid in self.allowed and peer.session == self.console_session()


class PipeOps(Protocol):
    """The Windows calls of the pipe server and client (the OS seam)."""

    def own_sid(self) -> str: ...

    def account_sid(self, name: str) -> str | None: ...

    def console_session(self) -> int: ...

    def create(self, address: str, sddl: str, *, first: bool) -> Any:
        """A new, unconnected, overlapped server instance of the pipe."""
        ...

    async def accept(self, pipe: Any) -> None:
        """Wait for a client to connect to this instance."""
        ...

    def client(self, pipe: Any) -> Peer: ...

    async def streams(
        self, pipe: Any, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    def close(self, pipe: Any) -> None: ...

    async def connect(
        self, address: str, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
        """Open the pipe as a client; also returns the server's session id."""
        ...


class PipeServer:
    """Accepts clients on one pipe name, keeping one free instance ready at all times."""

    def __init__(
        self, ops: PipeOps, address: str, handler: ClientHandler, admission: Admission, sddl: str
    ) -> None:
        self._ops, self._address, self._handler = ops, address, handler
        self._admission, self._sddl = admission, sddl
        self._clients: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        # the first instance now, in the caller: a name already taken fails the service's start
        self._pipe: Any = ops.create(address, sddl, first=True)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                pipe = self._pipe
                try:
                    await self._ops.accept(pipe)
                except OSError as exc:  # the client gave up between connecting and our accept
                    log.info("control: pipe accept failed: %s", exc)
                    self._ops.close(pipe)
                    self._pipe = await self._next_instance()
                    continue
                # a free instance first, so that the next client never finds the name missing
                self._pipe = await self._next_instance()
                await self._admit(pipe)
        finally:
            with contextlib.suppress(OSError):
                self._ops.close(self._pipe)
            self._closed.set()

    async def _next_instance(self) -> Any:
        """A new free instance; if Windows refuses one (out of resources), try again each second."""
        while True:
            try:
                return self._ops.create(self._address, self._sddl, first=False)
            except OSError as exc:
                log.warning("control: cannot create a pipe instance (%s); trying again", exc)
                await asyncio.sleep(1.0)  # retry cadence, not policy

    async def _admit(self, pipe: Any) -> None:
        try:
            peer = self._ops.client(pipe)
        except OSError as exc:
            log.warning("control: could not identify a pipe client, refused: %s", exc)
            self._ops.close(pipe)
            return
        if not self._admission.admits(peer):
            log.warning(
                "control: refused a pipe client (account %s, session %s, pid %s)",
                peer.sid, peer.session, peer.pid,
            )  # fmt: skip
            self._ops.close(pipe)
            return
        reader, writer = await self._ops.streams(pipe, BUFSIZE)
        task = asyncio.get_running_loop().create_task(self._handler(reader, writer))
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)

    def close(self) -> None:
        self._task.cancel()

    async def wait_closed(self) -> None:
        await self._closed.wait()


class PipeTransport:
    """:class:`agent.channel.Transport` over a named pipe; ``ops`` defaults to the real Windows calls."""

    default_address = DEFAULT_ADDRESS

    def __init__(self, ops: PipeOps | None = None) -> None:
        self._given = ops

    @property
    def ops(self) -> PipeOps:
        if self._given is None:
            self._given = Win32PipeOps()
        return self._given

    def admitted(self, visitor: str | None) -> set[Identity]:
        allowed: set[Identity] = {self.ops.own_sid()}
        if visitor:
            sid = self.ops.account_sid(visitor)
            if sid is None:
                log.warning("control: visitor account %r does not exist; only the service is admitted", visitor)
            else:
                allowed.add(sid)
        return allowed

    async def serve(
        self, handler: ClientHandler, address: str, allowed: set[Identity] | None = None
    ) -> ChannelServer:
        if not address.startswith("\\\\.\\pipe\\"):
            raise ValueError(f"a Windows control channel is a named pipe (\\\\.\\pipe\\NAME), not {address!r}")
        ops = self.ops
        own = ops.own_sid()
        sids = {str(i) for i in (allowed if allowed is not None else {own})}
        admission = Admission(own, frozenset(sids), ops.console_session)
        return PipeServer(ops, address, handler, admission, pipe_sddl(sids | {own}))

    async def connect(
        self, address: str, *, limit: int = 64 * 1024
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer, server_session = await self.ops.connect(address, limit)
        if server_session != SERVICE_SESSION:
            writer.close()
            raise PermissionError(
                f"{address} is served from session {server_session}, not by a service: not the agent"
            )
        return reader, writer


def _detach(handle: Any) -> int:
    """A raw handle from pywin32's PyHANDLE (which would close it when collected)."""
    detach = getattr(handle, "Detach", None)
    return int(detach() if detach is not None else handle)


class Win32PipeOps:
    """The real calls: pywin32 for the pipe and the tokens, the ProactorEventLoop for the I/O."""

    def own_sid(self) -> str:
        import win32api
        import win32security

        token = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32security.TOKEN_QUERY)
        return _token_sid(token)

    def account_sid(self, name: str) -> str | None:
        import pywintypes
        import win32security

        try:
            sid, _domain, _kind = win32security.LookupAccountName(None, name)
        except pywintypes.error:
            return None
        return str(win32security.ConvertSidToStringSid(sid))

    def console_session(self) -> int:
        import win32ts

        return int(win32ts.WTSGetActiveConsoleSessionId())

    def create(self, address: str, sddl: str, *, first: bool) -> Any:
        if sys.platform != "win32":
            raise RuntimeError("named pipes need Windows")
        from asyncio import windows_utils

        import win32file
        import win32pipe
        import win32security

        sa = win32security.SECURITY_ATTRIBUTES()
        sa.SECURITY_DESCRIPTOR = win32security.ConvertStringSecurityDescriptorToSecurityDescriptor(
            sddl, win32security.SDDL_REVISION_1
        )
        open_mode = win32pipe.PIPE_ACCESS_DUPLEX | win32file.FILE_FLAG_OVERLAPPED
        if first:
            open_mode |= win32pipe.FILE_FLAG_FIRST_PIPE_INSTANCE
        pipe_mode = (
            win32pipe.PIPE_TYPE_BYTE | win32pipe.PIPE_READMODE_BYTE | win32pipe.PIPE_WAIT
            | win32pipe.PIPE_REJECT_REMOTE_CLIENTS
        )  # fmt: skip
        handle = win32pipe.CreateNamedPipe(
            address, open_mode, pipe_mode, win32pipe.PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, sa
        )
        return windows_utils.PipeHandle(_detach(handle))

    async def accept(self, pipe: Any) -> None:
        if sys.platform != "win32":
            raise RuntimeError("named pipes need Windows")
        loop = asyncio.get_running_loop()
        proactor = getattr(loop, "_proactor", None)  # ProactorEventLoop, the default on Windows
        if proactor is None:
            raise RuntimeError("the control pipe needs asyncio's ProactorEventLoop")
        await proactor.accept_pipe(pipe)

    def client(self, pipe: Any) -> Peer:
        import win32api
        import win32con
        import win32pipe
        import win32security

        handle = pipe.fileno()
        pid = int(win32pipe.GetNamedPipeClientProcessId(handle))
        session = int(win32pipe.GetNamedPipeClientSessionId(handle))
        process = win32api.OpenProcess(win32con.PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        try:
            token = win32security.OpenProcessToken(process, win32security.TOKEN_QUERY)
            return Peer(_token_sid(token), session, pid)
        finally:
            win32api.CloseHandle(process)

    async def streams(
        self, pipe: Any, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        make = getattr(loop, "_make_duplex_pipe_transport")  # noqa: B009 - the proactor's, as start_serving_pipe uses it
        transport = make(pipe, protocol, extra={"addr": "control"})
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    def close(self, pipe: Any) -> None:
        pipe.close()

    async def connect(
        self, address: str, limit: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
        if sys.platform != "win32":
            raise RuntimeError("named pipes need Windows")
        import win32pipe

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        create = getattr(loop, "create_pipe_connection", None)
        if create is None:
            raise RuntimeError("the control pipe needs asyncio's ProactorEventLoop")
        transport, _ = await create(lambda: protocol, address)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        pipe = transport.get_extra_info("pipe")
        return reader, writer, int(win32pipe.GetNamedPipeServerSessionId(pipe.fileno()))


def _token_sid(token: Any) -> str:
    import win32api
    import win32security

    try:
        sid, _attributes = win32security.GetTokenInformation(token, win32security.TokenUser)
        return str(win32security.ConvertSidToStringSid(sid))
    finally:
        win32api.CloseHandle(token)
