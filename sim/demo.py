"""``espace-sim demo`` (``make demo``): the controller with a simulated floor.

The real controller app on http://127.0.0.1:8080 and 61 real agents (the
``Agent`` class, as tasks in this process) over loopback WebSocket, with fake
OS probes, simulated visitors arriving at the rate of a busy day, and a
virtual clock running ``--speed`` times faster than real time. It binds to
127.0.0.1 only and never advertises on the network (zeroconf stays off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import time as _time
from datetime import datetime, time, timedelta
from pathlib import Path

from aiohttp import web

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import FakePrints, FakeResetter
from controller import staff, stations
from controller.app import create_app
from controller.sessions import open_slots
from controller.settings import Settings, make_settings
from controller.web import keys
from espace.clock import ScaledClock, parse_instant
from sim.visitors import SimIdle, arrivals

log = logging.getLogger(__name__)


def demo_start(settings: Settings, now: float) -> float:
    """Today 9:00 local if the site opens today, else the next day it opens."""
    tz = settings.tz
    day = datetime.fromtimestamp(now, tz).date()
    for _ in range(14):
        probe = datetime.combine(day, time(12), tz).timestamp()
        slots = open_slots(settings, probe, days=1)
        if slots:
            return slots[0][0] + 5 * 60
        day += timedelta(days=1)
    return now


async def _run(args: argparse.Namespace) -> None:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    db = args.database or f"var/demo/demo-{stamp}.db"
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    settings = make_settings(database=db, port=args.port, host="127.0.0.1", zeroconf=False)
    start = parse_instant(args.start, settings.tz) if args.start else demo_start(settings, _time.time())
    clock = ScaledClock(start, args.speed)
    app = create_app(settings, clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    store = app[keys.STORE]
    now = clock.now()
    tokens = await store.write(lambda db: {s.id: stations.set_token(db, s, now) for s in settings.stations})
    # the demo's printers have no IPP address to poll: show them as working
    await store.write(lambda db: [db.execute("INSERT OR REPLACE INTO printers (id, state, updated) VALUES (?, 'ok', ?)", (pr.id, now)) for pr in settings.printers])
    accounts = [("steward", "floor-demo-1", "steward"), ("admin", "admin-demo-1", "admin"), ("backoffice", "report-demo-1", "backoffice")]
    await store.write(lambda db: [staff.add_staff(db, login, pw, role, "fr", now) for login, pw, role in accounts])

    url = f"ws://127.0.0.1:{args.port}/ws/agent"
    agents: list[Agent] = []
    idles: dict[str, SimIdle] = {}
    for spec in settings.stations:
        idle = SimIdle(clock)
        idles[spec.id] = idle
        agent = Agent(
            spec.id, tokens[spec.id], url, Outbox(":memory:"), clock=clock,
            probes=Probes(idle=idle, prints=FakePrints(), reset=FakeResetter()), heartbeat_s=5.0, print_poll_s=1.0,
        )
        agents.append(agent)
        await agent.start()

    print(f"\nEspace demo: open http://127.0.0.1:{args.port}/ in a browser (demo accounts, this store only):", flush=True)
    for login, password, role in accounts:
        print(f"  staff login: {login} / {password} ({role})", flush=True)
    print(f"  61 simulated stations, clock x{args.speed:g} from {datetime.fromtimestamp(start, settings.tz):%A %d %B %H:%M}", flush=True)
    print(f"  store: {db}   (Ctrl-C to stop)\n", flush=True)
    rng = random.Random(2019)
    sim = asyncio.create_task(arrivals(agents, idles, clock, args.arrivals_per_hour, rng))
    try:
        await asyncio.Event().wait()
    finally:
        sim.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sim
        await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
        await runner.cleanup()


def run_demo(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0
