"""Many simulated stations from one process, for load tests and benchmarks.

Each station is the real :class:`agent.core.Agent` (real protocol, real
outbox logic, real enforcement and backoff) with an in-memory outbox and the
fake OS probes. Simulated visitors walk up on the accelerated clock, start
sessions, print, ask for help and leave (early, or when the station ends the
session). Connections are opened with at most ``max_handshakes`` in flight at
once, so 5,000 stations do not knock at the same millisecond.

:class:`SwarmStats` counts what the swarm did (the simulation's ground truth)
and keeps the figures the benchmarks need: event -> commit -> ack latency
(measured from the moment the event enters the outbox to the moment its ack
is handled) and, with ``floor_url``, event -> dashboard latency for help
requests (from the event's instant to the /ws/floor update that shows it).

The site, store and tokens a swarm runs against come from :mod:`sim.prepare`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import FakeHealth, FakeIdle, FakePrints, FakeResetter, PrintRecord
from espace import protocol as p
from espace.clock import Clock, ScaledClock
from espace.gcwatch import settle

log = logging.getLogger(__name__)


def percentile(samples: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100, nearest rank) of ``samples``; NaN when empty."""
    data = sorted(samples)
    if not data:
        return float("nan")
    k = max(0, min(len(data) - 1, round(q / 100 * len(data) + 0.5) - 1))
    return data[k]


@dataclass
class SwarmStats:
    """What the swarm did, and latency samples (seconds)."""

    stations: int = 0
    emitted: int = 0  # events put into the outboxes
    acked: int = 0  # events that left the outboxes on an ack (or a reject)
    sessions_started: int = 0
    sessions_offline: int = 0  # granted locally: the controller was away or slow
    refused: int = 0
    prints: int = 0
    pages: int = 0
    helps: int = 0
    ack_latency: list[float] = field(default_factory=list)
    dashboard_latency: list[float] = field(default_factory=list)

    def reset_latency(self) -> None:
        self.ack_latency.clear()
        self.dashboard_latency.clear()

    def as_dict(self, connected: int = 0) -> dict[str, Any]:
        def ms(xs: list[float], q: float) -> float:
            return round(percentile(xs, q) * 1000, 2)

        return {
            "stations": self.stations, "connected": connected, "emitted": self.emitted, "acked": self.acked,
            "sessions_started": self.sessions_started, "sessions_offline": self.sessions_offline,
            "refused": self.refused, "prints": self.prints, "pages": self.pages, "helps": self.helps,
            "ack_ms_p50": ms(self.ack_latency, 50), "ack_ms_p99": ms(self.ack_latency, 99), "ack_samples": len(self.ack_latency),
            "dash_ms_p50": ms(self.dashboard_latency, 50), "dash_ms_p99": ms(self.dashboard_latency, 99),
            "dash_samples": len(self.dashboard_latency),
        }  # fmt: skip


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], within: float) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them, cancelling again those that go on.

    On Python 3.11, ``asyncio.wait_for`` can swallow a cancellation that lands
    just as its inner wait completes (CPython gh-86296); the agent's loops use
    it, so among thousands of stations one task may ignore a single cancel.
    Returns the tasks still running after ``within`` seconds.
    """
    pending = {t for t in tasks if not t.done()}
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.5, max(0.01, deadline - time.monotonic())))
    return list(pending)


class _TimedOutbox(Outbox):
    """An in-memory outbox that notes when each event went in and when its ack took it out."""

    def __init__(self, stats: SwarmStats) -> None:
        super().__init__(":memory:")
        self._stats = stats
        self._born: dict[str, float] = {}

    async def add(self, build: Callable[[int], p.Event]) -> p.Event:
        t0 = time.perf_counter()
        ev = await super().add(build)
        self._born[ev.id] = t0
        self._stats.emitted += 1
        return ev

    async def remove(self, event_id: str) -> None:
        await super().remove(event_id)
        t0 = self._born.pop(event_id, None)
        if t0 is not None:
            self._stats.acked += 1
            self._stats.ack_latency.append(time.perf_counter() - t0)


@dataclass
class Visitors:
    """How the simulated visitors behave, in virtual minutes."""

    gap_minutes: float = 20.0  # mean time a free station waits for its next visitor
    leave_early: float = 0.4  # chance a visitor ends the session before the time is up
    print_chance: float = 0.5
    help_chance: float = 0.3


class SwarmAgent(Agent):
    """The real agent, polling its (fake, unchanging) idle probe every few seconds instead of 4 times a second.

    ``Agent._enforce_loop`` wakes every 0.25 s per station even with no
    session; 5,000 of those in one process are 20,000 wake-ups a second, which
    saturates a core and makes the swarm (not the controller) the bottleneck.
    Session deadlines are still met to the millisecond: the loop is the agent's
    own, which cuts the wait to the next deadline; only the idle poll differs.
    """

    idle_poll_s = 5.0


class Swarm:
    def __init__(
        self,
        url: str,
        tokens: dict[str, str],
        clock: Clock,
        *,
        heartbeat_s: float = 10.0,
        visitors: Visitors | None = None,
        seed: int = 0,
        max_handshakes: int = 100,
        print_poll_s: float = 5.0,
        ssl: Any = None,
    ) -> None:
        """``ssl``: as :class:`agent.core.Agent` takes it (``aiohttp.Fingerprint`` of the site's certificate for ``wss://``)."""
        self.url = url
        self.clock = clock
        self.stats = SwarmStats(stations=len(tokens))
        self.visitors = visitors
        self.rng = random.Random(seed)
        self.max_handshakes = max_handshakes
        self.agents: dict[str, SwarmAgent] = {}
        for station, token in tokens.items():
            probes = Probes(idle=FakeIdle(), prints=FakePrints(), reset=FakeResetter(), health=FakeHealth())
            self.agents[station] = SwarmAgent(
                station, token, url, _TimedOutbox(self.stats), clock=clock, probes=probes,
                heartbeat_s=heartbeat_s, print_poll_s=print_poll_s, ssl=ssl,
            )  # fmt: skip
        self._tasks: list[asyncio.Task[Any]] = []

    def connected(self) -> int:
        return sum(1 for a in self.agents.values() if a.connected.is_set())

    async def start(self, connect_within: float = 600.0) -> None:
        """Start every station, at most ``max_handshakes`` connecting at once; returns when all are connected."""
        deadline = time.monotonic() + connect_within
        window = asyncio.Semaphore(self.max_handshakes)

        async def one(agent: Agent) -> None:
            async with window:
                await agent.start()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(agent.connected.wait(), max(1.0, deadline - time.monotonic()))

        await asyncio.gather(*(one(a) for a in self.agents.values()))
        if self.visitors is not None:
            for agent in self.agents.values():
                rng = random.Random(self.rng.random())
                self._tasks.append(asyncio.create_task(self._visit(agent, rng), name=f"{agent.station}-visitor"))

    async def stop(self, stop_within: float = 30.0) -> None:
        """The visitors leave, the outboxes drain (bounded), then the stations stop."""
        await cancel_all(self._tasks, stop_within / 4)
        self._tasks.clear()
        drain_until = time.monotonic() + stop_within / 4
        # a poll with a deadline: no one event says that every station's outbox is empty
        while time.monotonic() < drain_until and self.connected() and await self.pending():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        try:  # bounded: an agent task that swallowed its cancellation must not hang the caller
            async with asyncio.timeout(stop_within / 3):
                await asyncio.gather(*(a.stop() for a in self.agents.values()), return_exceptions=True)
        except TimeoutError:
            stuck = [t for a in self.agents.values() for t in a._tasks if not t.done()]
            log.error("swarm: %d agent tasks ignored their cancellation: %s", len(stuck), [t.get_name() for t in stuck[:10]])
            await cancel_all(stuck, stop_within / 3)
        for a in self.agents.values():
            a.outbox.close()
            # prints the station never polled did not happen, as far as the controller can know
            unsent = a.probes.prints.poll()
            self.stats.prints -= len(unsent)
            self.stats.pages -= sum(r.pages for r in unsent)

    async def _visit(self, agent: Agent, rng: random.Random) -> None:
        v = self.visitors
        assert v is not None
        st, clock = self.stats, self.clock
        while True:
            await clock.sleep(rng.expovariate(1.0 / (v.gap_minutes * 60)))
            if agent.session is not None or agent.locked is not None:
                continue
            answer = await agent.start_session(rng.choice(("fr", "nl", "en")))
            if not isinstance(answer, p.Grant):
                st.refused += 1
                continue
            st.sessions_started += 1
            if answer.request is None:  # made by the station itself: the controller was away or slow
                st.sessions_offline += 1
            session_id = answer.session_id
            stay = answer.end - clock.now()
            if rng.random() < v.leave_early:
                stay = rng.uniform(0.1, 0.9) * stay
            plan: list[tuple[float, str]] = [(stay, "leave")]
            if rng.random() < v.print_chance:
                plan.append((rng.uniform(0.05, 0.95) * stay, "print"))
            if rng.random() < v.help_chance:
                at = rng.uniform(0.05, 0.8) * stay
                plan += [(at, "help"), (at + rng.uniform(0.05, 0.15) * stay, "cancel_help")]
            elapsed = 0.0
            for at, what in sorted(plan):
                await clock.sleep(at - elapsed)
                elapsed = at
                s = agent.session
                if s is None or s.session_id != session_id:
                    break  # the station ended it (time, closing, steward)
                if what == "print":
                    pages = rng.randint(1, 6)
                    agent.probes.prints.add(PrintRecord(job=p.new_id()[:12], printer="PRN-1", pages=pages, at=clock.now()))  # type: ignore[attr-defined]
                    st.prints += 1
                    st.pages += pages
                elif what == "help":
                    if await agent.request_help() is not None:
                        st.helps += 1
                elif what == "cancel_help":
                    await agent.cancel_help()
                elif what == "leave" and agent.session is not None and agent.session.session_id == session_id:
                    await agent.end_by_visitor()

    async def print_burst(self, per_station: int, pages: int = 1) -> int:
        """Queue ``per_station`` print jobs on every station (they leave at the next print poll)."""
        n = 0
        for agent in self.agents.values():
            for _ in range(per_station):
                agent.probes.prints.add(PrintRecord(job=p.new_id()[:12], printer="PRN-1", pages=pages, at=self.clock.now()))  # type: ignore[attr-defined]
                n += 1
        self.stats.prints += n
        self.stats.pages += n * pages
        return n

    async def pending(self) -> int:
        """Events still waiting in the outboxes."""
        counts = await asyncio.gather(*(a.outbox.count() for a in self.agents.values()))
        return sum(counts)


async def watch_floor(floor_url: str, clock: ScaledClock, stats: SwarmStats, ready: asyncio.Event | None = None,
                      login: tuple[str, str] | None = None) -> None:
    """Subscribe to /ws/floor; each help flag that appears gives one event -> dashboard sample.

    ``help_since`` is the help event's instant on the shared virtual clock; it
    maps back to the real instant the station emitted it.
    """
    seen: dict[str, float | None] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        if login is not None:  # the feed is for staff: log in first (the cookie goes with the socket)
            base = floor_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).split("/ws/")[0]
            async with http.post(base + "/login", json={"login": login[0], "password": login[1]}) as r:
                if r.status != 200:
                    raise RuntimeError(f"login as {login[0]} failed: {r.status} {await r.text()}")
        async with http.ws_connect(floor_url, max_msg_size=64 * 1024 * 1024) as ws:
            await _read_floor(ws, clock, stats, seen, ready)


async def _read_floor(ws: aiohttp.ClientWebSocketResponse, clock: ScaledClock, stats: SwarmStats,
                      seen: dict[str, float | None], ready: asyncio.Event | None) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        now_real = time.time()
        data = json.loads(msg.data)
        if data.get("type") == "snapshot":
            for v in data["stations"]:
                seen[v["id"]] = v.get("help_since")
            if ready is not None:
                ready.set()
            continue
        v = data.get("station")
        if not v:
            continue
        since = v.get("help_since")
        if since is not None and seen.get(v["id"]) != since:
            emitted_real = clock.anchor + (since - clock.start) / clock.speed
            stats.dashboard_latency.append(max(0.0, now_real - emitted_real))
        seen[v["id"]] = since


# ---------------------------------------------------------------- running


def _write_stats(path: str | Path, figures: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(figures), encoding="utf-8")  # small, once a second


async def run_swarm(
    count: int,
    url: str,
    tokens: dict[str, str],
    clock: Clock,
    heartbeat_s: float = 10.0,
    *,
    duration: float | None = None,
    visitors: Visitors | None = None,
    seed: int = 0,
    stats_file: str | Path | None = None,
    floor_url: str | None = None,
    stop: asyncio.Event | None = None,
    freeze: bool = False,
) -> SwarmStats:
    """Run ``count`` stations (the first ``count`` of ``tokens``) until ``duration`` real seconds pass or ``stop`` is set.

    ``freeze``: once connected, move the stations' long-lived objects out of the
    collector's full scans (:func:`espace.gcwatch.settle`); for a process of its own.
    """
    chosen = dict(list(tokens.items())[:count])
    if len(chosen) < count:
        raise ValueError(f"{count} stations asked, only {len(chosen)} tokens given")
    swarm = Swarm(url, chosen, clock, heartbeat_s=heartbeat_s, visitors=visitors, seed=seed)
    stop = stop or asyncio.Event()
    watcher = None
    if floor_url and isinstance(clock, ScaledClock):
        watcher = asyncio.create_task(watch_floor(floor_url, clock, swarm.stats))
    t0 = time.monotonic()
    await swarm.start()
    log.info("swarm: %d stations connected in %.1f s", swarm.connected(), time.monotonic() - t0)
    if freeze:
        settle()
    try:
        while not stop.is_set():
            if duration is not None and time.monotonic() - t0 >= duration:
                break
            if stats_file:
                _write_stats(stats_file, swarm.stats.as_dict(swarm.connected()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        await swarm.stop()
        if stats_file:
            _write_stats(stats_file, swarm.stats.as_dict(0))
    return swarm.stats
