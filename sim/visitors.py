"""Simulated visitors for the demo floor, the swarm and the benchmarks.

A :class:`SimIdle` probe whose idle time grows on the virtual clock while the
simulated visitor is away; a :class:`Visitor` that sits at a station, prints,
sometimes asks for help, sometimes walks away, and leaves.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from agent.core import Agent
from agent.probes.base import FakePrints, PrintRecord
from espace import protocol as p
from espace.clock import Clock


@dataclass
class SimIdle:
    """Idle time on the virtual clock: zero while the visitor types, growing once they walk away."""

    clock: Clock
    away_since: float | None = None

    def idle_seconds(self) -> float:
        return 0.0 if self.away_since is None else max(0.0, self.clock.now() - self.away_since)


@dataclass(frozen=True, slots=True)
class VisitorPlan:
    stay_s: float  # how long they would stay (they may be cut by the grant)
    walk_away_at: float | None  # seconds into the session when they leave without ending it
    help_at: float | None
    prints: tuple[tuple[float, int], ...]  # (seconds into the session, pages)
    lang: str


def plan_visitor(rng: random.Random) -> VisitorPlan:
    stay = rng.uniform(15 * 60, 70 * 60)  # some would stay past the hour: the grant cuts them
    walk = rng.uniform(5 * 60, stay) if rng.random() < 0.12 else None
    help_at = rng.uniform(2 * 60, stay) if rng.random() < 0.15 else None
    prints = tuple((rng.uniform(60, stay), rng.randint(1, 6)) for _ in range(rng.choice([0, 0, 1, 1, 2])))
    return VisitorPlan(stay, walk, help_at, prints, rng.choice(["fr", "fr", "nl", "en"]))


async def visit(agent: Agent, idle: SimIdle, plan: VisitorPlan, clock: Clock) -> str:
    """Play one visit on ``agent``; returns how it went ("refused", "left", "walked_away", "cut")."""
    answer = await agent.start_session(plan.lang)
    if not isinstance(answer, p.Grant):
        return "refused"
    session_id = answer.session_id
    start = clock.now()
    steps: list[tuple[float, str, int]] = [(plan.stay_s, "leave", 0)]
    if plan.walk_away_at is not None:
        steps.append((plan.walk_away_at, "walk", 0))
    if plan.help_at is not None:
        steps.append((plan.help_at, "help", 0))
        steps.append((plan.help_at + 8 * 60, "cancel_help", 0))
    steps += [(at, "print", pages) for at, pages in plan.prints]
    steps.sort()
    for at, what, pages in steps:
        wait = start + at - clock.now()
        if wait > 0:
            await clock.sleep(wait)
        s = agent.session
        if s is None or s.session_id != session_id:
            return "cut"  # the grant ran out, idle ended it, or a steward did
        if what == "leave":
            await agent.end_by_visitor()
            return "left"
        if what == "walk":
            idle.away_since = clock.now()
            while agent.session is not None and agent.session.session_id == session_id:
                await clock.sleep(30)
            idle.away_since = None
            return "walked_away"
        if what == "help":
            await agent.request_help()
        elif what == "cancel_help":
            await agent.cancel_help()
        elif what == "print" and isinstance(agent.probes.prints, FakePrints):
            agent.probes.prints.add(PrintRecord(job=p.new_id()[:10], printer="PRN-1", pages=pages, at=clock.now()))
    return "left"


async def arrivals(agents: list[Agent], idles: dict[str, SimIdle], clock: Clock, per_hour: float, rng: random.Random) -> None:
    """Walk-up visitors arriving at random (Poisson) and taking a free station, forever."""
    running: set[asyncio.Task[str]] = set()
    while True:
        await clock.sleep(rng.expovariate(per_hour / 3600.0))
        free = [a for a in agents if a.session is None and a.locked is None and a.connected.is_set()]
        pcs = [a for a in free if a.station.startswith("PC")] or free
        if not pcs:
            continue
        agent = rng.choice(pcs)
        task = asyncio.create_task(visit(agent, idles[agent.station], plan_visitor(rng), clock))
        running.add(task)
        task.add_done_callback(running.discard)
