"""Benchmark: from an agent's event to the stewards' dashboard update, with 61 stations.

Run from the repository root: ``python tests/bench/bench_dashboard.py``.
A real controller process (loopback) and 61 in-process agents (``agent.core.Agent`` with an
in-memory outbox), all in session; a logged-in steward listens on ``/ws/floor``. Each sample
is one help request (or its cancellation): the time from the agent's call until the
dashboard's socket receives the station's new view, which includes the agent's outbox, the
WebSocket to the controller, the store's commit, the floor and the feed. ``one`` samples go
one station at a time; ``burst`` samples are all 61 stations at once. Prints
``bench <name>: <value> <unit>`` lines; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp  # noqa: E402

from agent.core import HELP_SPACING_S, Agent  # noqa: E402
from agent.outbox import Outbox  # noqa: E402
from controller import staff, stations  # noqa: E402
from controller.settings import make_settings  # noqa: E402
from controller.store import Store  # noqa: E402
from tests.support.procs import ControllerProc, shared_clock, wait_for  # noqa: E402

ROUNDS_ONE = 2
ROUNDS_BURST = 2  # a session may ask for help HELP_PER_SESSION (5) times: 4 requests each, here
SPEED = 120.0  # the site clock: a station's help requests are HELP_SPACING_S (60 s) apart, 0.5 s here
PASSWORD = "bench password 1"


async def prepare(db: Path) -> dict[str, str]:
    settings = make_settings(database=str(db))
    store = Store(db)
    await store.open()
    try:
        now = time.time()
        await store.write(lambda d: staff.add_staff(d, "bench", PASSWORD, "steward", "en", now))
        tokens = {}
        for spec in settings.stations:
            tokens[spec.id] = await store.write(lambda d, spec=spec: stations.set_token(d, spec, now))
        return tokens
    finally:
        await store.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = shared_clock(speed=SPEED)
        ctl = ControllerProc(Path(tmp), clock)
        tokens = await prepare(ctl.db)
        ctl.start()
        agents = [Agent(st, tok, ctl.ws_url, Outbox(":memory:"), clock=clock, heartbeat_s=10.0) for st, tok in tokens.items()]
        try:
            for a in agents:
                await a.start()
            await wait_for(lambda: all(a.connected.is_set() for a in agents), 60, "61 agents connected")
            for a in agents:
                assert not isinstance(await a.start_session(), type(None))
            async with aiohttp.ClientSession(ctl.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.post("/login", json={"login": "bench", "password": PASSWORD}) as r:
                    assert r.status == 200, await r.text()
                ws = await http.ws_connect("/ws/floor")
                waiters: dict[tuple[str, bool], asyncio.Future[float]] = {}

                async def listen() -> None:
                    async for msg in ws:
                        m = json.loads(msg.data)
                        if m.get("type") != "station":
                            continue
                        s = m["station"]
                        fut = waiters.pop((s["id"], s["help_since"] is not None), None)
                        if fut is not None and not fut.done():
                            fut.set_result(time.perf_counter())

                listener = asyncio.create_task(listen())
                await asyncio.sleep(1.0)  # let the sessions' updates drain

                async def sample(a: Agent, helping: bool) -> float:
                    fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                    waiters[(a.station, helping)] = fut
                    t0 = time.perf_counter()
                    if helping:
                        await a.request_help()
                    else:
                        await a.cancel_help()
                    return (await asyncio.wait_for(fut, 10)) - t0

                spacing = HELP_SPACING_S / SPEED + 0.1  # a station asking again sooner is refused (help flood)
                one: list[float] = []
                for _ in range(ROUNDS_ONE):
                    await asyncio.sleep(spacing)
                    for helping in (True, False):
                        for a in agents:
                            one.append(await sample(a, helping))
                burst: list[float] = []
                for _ in range(ROUNDS_BURST):
                    await asyncio.sleep(spacing)
                    for helping in (True, False):
                        burst += await asyncio.gather(*(sample(a, helping) for a in agents))
                listener.cancel()
                await ws.close()
        finally:
            for a in agents:
                await a.stop()
            ctl.kill()
    for name, values in (("dashboard_latency_61", one), ("dashboard_latency_61_burst", burst)):
        print(f"bench {name}_p50: {pct(values, 0.50) * 1000:.1f} ms")
        print(f"bench {name}_p99: {pct(values, 0.99) * 1000:.1f} ms")
    print(f"bench dashboard_latency_61_samples: {len(one) + len(burst)} events")
    print(f"bench dashboard_latency_61_mean: {statistics.fmean(one) * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
