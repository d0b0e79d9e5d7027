from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import AgentProc, ControllerProc, shared_clock
from tests.support.proxy import TcpProxy


class Floor:
    """A real controller process and real agent processes, on one virtual clock."""

    def __init__(self, tmp: Path, speed: float) -> None:
        self.tmp = tmp
        self.clock = shared_clock(speed=speed)
        self.controller = ControllerProc(tmp, self.clock)
        self.agents: dict[str, AgentProc] = {}

    async def add_agent(self, station: str) -> AgentProc:
        token = self.controller.add_station(station)
        agent = AgentProc(self.tmp, station, token, self.controller.ws_url, self.clock)
        await agent.start()
        self.agents[station] = agent
        return agent

    def rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return self.controller.rows(sql, *args)

    async def close(self) -> None:
        for agent in self.agents.values():
            await agent.kill()
        self.controller.kill()


@pytest.fixture
async def make_floor(tmp_path: Path) -> AsyncIterator[Callable[[float], Floor]]:
    floors: list[Floor] = []

    def make(speed: float = 60.0) -> Floor:
        f = Floor(tmp_path, speed)
        floors.append(f)
        return f

    yield make
    for f in floors:
        await f.close()


@pytest.fixture
async def procs() -> AsyncIterator[Callable[[Any], Any]]:
    """Track real processes and proxies a test starts; they are stopped after it, last first."""
    made: list[Any] = []

    def track(x: Any) -> Any:
        made.append(x)
        return x

    yield track
    for x in reversed(made):
        if isinstance(x, AgentProc):
            await x.kill()
        elif isinstance(x, ControllerProc):
            x.kill()
        elif isinstance(x, TcpProxy):
            await x.close()
