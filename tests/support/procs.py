"""Real controller and agent processes on loopback, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agent.control import ControlClient
from espace.clock import ScaledClock, SystemClock, parse_instant

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_clock(start: str = "2026-11-19T10:00", speed: float = 60.0) -> ScaledClock:
    """A virtual clock both sides agree on (2026-11-19 is a Thursday: open 9:00-19:00)."""
    return ScaledClock(parse_instant(start), speed)


async def wait_for(predicate: Callable[[], Awaitable[Any] | Any], within: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy, or fail after ``within`` real seconds.

    A deadline checked between polls rather than ``asyncio.timeout``: a predicate is never
    cancelled half-way (a status call on an agent's control socket must not be cut mid-reply).
    """
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


def rows(db: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    """Query a controller's store from the test, on a connection of its own (WAL: readers do not block)."""
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, its output appended to ``log``."""
    with open(log, "ab") as logf:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


class ControllerProc:
    def __init__(self, tmp: Path, clock: ScaledClock | SystemClock, config: Path | None = None, tls: bool = False) -> None:
        self.tls = tls
        self.tmp = tmp
        self.db = tmp / "controller.db"
        self.port = free_port()
        self.clock = clock
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "controller.log"

    @property
    def url(self) -> str:
        return f"http{'s' if self.tls else ''}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws{'s' if self.tls else ''}://127.0.0.1:{self.port}/ws/agent"

    def _urlopen(self, path: str):
        ctx = None
        if self.tls:
            import ssl

            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # the test only checks liveness; agents pin the fingerprint
        return urllib.request.urlopen(self.url + path, timeout=5, context=ctx)

    def _args(self) -> list[str]:
        args = [sys.executable, "-m", "controller.cli", "--log-level", "INFO"]
        return args

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``espace-controller <args>`` on this controller's store (and site configuration)."""
        cmd = [*self._args(), *args, "--database", str(self.db)]
        if self.config:
            cmd += ["--config", str(self.config)]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, env=_env(), timeout=60)

    def add_station(self, station: str) -> str:
        return self.cli("station", "add", station).stdout.strip().splitlines()[-1]

    def start(self) -> None:
        cmd = [*self._args(), "serve", "--database", str(self.db), "--port", str(self.port), "--clock", self.clock.spec()]
        if self.config:
            cmd += ["--config", str(self.config)]
        self.proc = _spawn(cmd, self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log.read_text()[-2000:]}")
            try:
                with self._urlopen("/healthz") as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("controller did not answer /healthz within 30 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None

    def get(self, path: str) -> Any:
        with self._urlopen(path) as r:
            return json.loads(r.read())

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return rows(self.db, sql, *args)


class AgentProc:
    def __init__(
        self, tmp: Path, station: str, token: str, ws_url: str, clock: ScaledClock, heartbeat: float = 1.0, extra: list[str] | None = None
    ) -> None:
        self.extra = extra or []
        self.station = station
        self.token = token
        self.ws_url = ws_url
        self.clock = clock
        self.state = tmp / f"agent-{station}"
        self.sock = tmp / f"{station}.sock"
        self.log = tmp / f"agent-{station}.log"
        self.heartbeat = heartbeat
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: ControlClient | None = None

    async def start(self) -> None:
        cmd = [
            sys.executable, "-m", "agent.cli", "run", "--station", self.station, f"--token={self.token}",
            "--url", self.ws_url, "--state-dir", str(self.state), "--clock", self.clock.spec(),
            "--heartbeat", str(self.heartbeat), "--control", str(self.sock), *self.extra,
        ]
        self.proc = await asyncio.to_thread(_spawn, cmd, self.log)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited: {self.log.read_text()[-2000:]}")
            try:
                self.client = await ControlClient.connect(self.sock)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def call(self, op: str, **kw: Any) -> dict[str, Any]:
        assert self.client is not None
        return await self.client.call(op, **kw)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None

    async def wait_drained(self, within: float = 30.0) -> dict[str, Any]:
        """Until the agent is connected and its outbox is empty."""

        async def check() -> dict[str, Any] | None:
            st = await self.call("status")
            return st if st["connected"] and st["outbox"] == 0 and not st.get("prints_pending") else None

        return await wait_for(check, within, f"{self.station} to drain its outbox")
