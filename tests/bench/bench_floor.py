"""Benchmark: the floor under 61, 1,000 and 5,000 stations.

Run from the repository root: ``python tests/bench/bench_floor.py [counts...]``.
For each size: a real controller process (its own store, a site
configuration listing every station) and the swarm (``sim/swarm.py``, the
real Agent class) in this process, heartbeats every 10 s, simulated visitors
on a clock 60 times faster than real time. It prints, one line per figure:

* ``floor<N>_connect_s`` - time for every station to connect at start (staggered);
* ``floor<N>_reconnect_s`` - after SIGKILL + restart of the controller, time
  from the restarted controller answering /healthz to every station connected
  again (the agents' own backoff decides; target: 61 within 5 s);
* ``floor<N>_ack_p50_ms``/``_p99_ms`` - event -> commit -> ack, from the event
  entering the station's outbox to its ack being handled;
* ``floor<N>_dashboard_p50_ms``/``_p99_ms`` - event -> dashboard, from a help
  request's instant to the /ws/floor update that shows it (target p99 < 250 ms);
* ``floor<N>_rss_per_station_kib`` - controller RSS over the number of stations;
* ``floor<N>_events_per_s`` - a burst of print jobs from every station,
  committed and acknowledged, divided by the time it took.

The swarm and the controller share the machine's cores; the swarm's own loop
lag (``floor<N>_swarm_loop_lag_p99_ms``) says how much of a latency is the
simulator's. Every loop is bounded; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from espace.gcwatch import GcWatch, settle  # noqa: E402
from sim.prepare import prepare_site  # noqa: E402
from sim.swarm import Swarm, Visitors, cancel_all, percentile, watch_floor  # noqa: E402
from tests.support.procs import ControllerProc, shared_clock  # noqa: E402

STAFF = ("bench", "bench-password-0123456789")
SIZES = (61, 1000, 5000)
MEASURE_S = {61: 20.0, 1000: 25.0, 5000: 30.0}  # real seconds of steady floor per size
WARMUP_S = 10.0  # the first visitors all arrive together; let that rush pass before measuring
# mean virtual minutes between visitors on a free station: at 60x, 15 min gives ~8 events per station per
# real minute; 5,000 such stations would be 60 times a real floor's rate, so the big floor gets fewer visitors
GAP_MINUTES = {61: 15.0, 1000: 15.0, 5000: 60.0}


def figure(name: str, value: float, unit: str) -> None:
    text = "nan" if value != value else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}")
    print(f"bench {name}: {text} {unit}", flush=True)


def note(text: str) -> None:
    print(f"  # {text}", flush=True)


def add_staff(db: Path) -> bool:
    """A staff account for the dashboard feed, if this controller has staff accounts."""
    try:
        from controller import staff
        from controller.store.store import connect, migrate
    except ImportError:
        return False
    conn = connect(db)
    try:
        migrate(conn)
        conn.conn.execute("BEGIN IMMEDIATE")
        staff.add_staff(conn, STAFF[0], STAFF[1], "steward", "fr", time.time())
        conn.conn.execute("COMMIT")
    finally:
        conn.conn.close()
    return True


def metrics(ctl: ControllerProc) -> dict[str, float]:
    with urllib.request.urlopen(ctl.url + "/metrics", timeout=10) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out


def connected_on_controller(ctl: ControllerProc) -> int:
    try:
        return int(ctl.get("/healthz").get("stations_connected", 0))
    except OSError:
        return -1


async def poll(predicate, limit_s: float, step: float = 0.05) -> float | None:
    """Seconds until ``predicate()`` holds, or None after ``limit_s``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if predicate():
            return time.monotonic() - t0
        await asyncio.sleep(step)
    return None


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def floor_costs(config: Path, n: int) -> None:
    """The controller's per-tick and per-snapshot work for n stations, in this process (no I/O)."""
    import json

    from controller.floor.floor import Floor
    from controller.settings import load_settings
    from espace.clock import SystemClock

    floor = Floor(load_settings(config), SystemClock())
    for live in floor.live.values():
        live.connected, live.last_seen = True, time.time()
    floor.tick()  # first publication of every view
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        floor.tick()
    figure(f"floor{n}_tick_ms", (time.perf_counter() - t0) / reps * 1000, "ms")
    t0 = time.perf_counter()
    for _ in range(5):
        text = json.dumps(floor.snapshot())
    figure(f"floor{n}_snapshot_ms", (time.perf_counter() - t0) / 5 * 1000, "ms")
    note(f"snapshot {len(text) / 1024:.0f} KiB; the ticker calls tick() every 0.5 s; each dashboard gets a snapshot on connect")


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.05)
        samples.append(time.perf_counter() - t0 - 0.05)


async def bench(n: int, tmp: Path) -> None:
    print(f"-- {n} stations", flush=True)
    folder = tmp / f"floor{n}"
    config, db, tokens = prepare_site(folder, n)
    staff_ok = add_staff(db)
    floor_costs(config, n)
    clock = shared_clock(speed=60.0)
    ctl = ControllerProc(folder, clock, config=config)
    ctl.db = db
    ctl.start()
    proc = psutil.Process(ctl.proc.pid)  # type: ignore[union-attr]
    rss_empty = proc.memory_info().rss
    swarm = Swarm(ctl.ws_url, tokens, clock, heartbeat_s=10.0, visitors=Visitors(gap_minutes=GAP_MINUTES.get(n, 30.0)), seed=n)
    me = psutil.Process()
    lag: list[float] = []
    stop_lag = asyncio.Event()
    lagger = asyncio.create_task(loop_lag(lag, stop_lag))
    watcher: asyncio.Task[None] | None = None
    try:
        t0 = time.monotonic()
        await swarm.start(connect_within=240)
        figure(f"floor{n}_connect_s", time.monotonic() - t0, "s")
        settle()  # the swarm's 5,000 agents are long-lived: keep full collections from rescanning them
        if swarm.connected() < n:
            note(f"only {swarm.connected()} of {n} connected")

        # the dashboard feed
        ready = asyncio.Event()
        watcher = asyncio.create_task(
            watch_floor(f"ws://127.0.0.1:{ctl.port}/ws/floor", clock, swarm.stats, ready, login=STAFF if staff_ok else None)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), 30)
        if watcher.done() and watcher.exception() is not None:
            note(f"dashboard feed unavailable: {watcher.exception()}")

        # steady floor: visitors come and go, heartbeats every 10 s
        await asyncio.sleep(WARMUP_S)
        swarm.stats.reset_latency()
        lag.clear()
        cpu = (cpu_s(proc), cpu_s(me))
        emitted = swarm.stats.emitted
        gc_ctl = metrics(ctl)
        gc_swarm = GcWatch().install()
        await asyncio.sleep(MEASURE_S.get(n, 30.0))
        gc_swarm.uninstall()
        gc_ctl = {k: v - gc_ctl.get(k, 0) for k, v in metrics(ctl).items()}
        st = swarm.stats
        spent = (cpu_s(proc) - cpu[0], cpu_s(me) - cpu[1])
        figure(f"floor{n}_ack_p50_ms", percentile(st.ack_latency, 50) * 1000, "ms")
        figure(f"floor{n}_ack_p99_ms", percentile(st.ack_latency, 99) * 1000, "ms")
        figure(f"floor{n}_dashboard_p50_ms", percentile(st.dashboard_latency, 50) * 1000, "ms")
        figure(f"floor{n}_dashboard_p99_ms", percentile(st.dashboard_latency, 99) * 1000, "ms")
        figure(f"floor{n}_swarm_loop_lag_p99_ms", percentile(lag, 99) * 1000, "ms")
        figure(f"floor{n}_swarm_gc_pause_max_ms", gc_swarm.pause_max_s * 1000, "ms")
        note(f"collector while measuring: controller {gc_ctl.get('espace_gc_collections_gen2', 0):.0f} full collections, "
             f"{gc_ctl.get('espace_gc_pause_seconds_total', 0) * 1000:.0f} ms paused in all (its largest pause since start: "
             f"{metrics(ctl).get('espace_gc_pause_seconds_max', 0) * 1000:.0f} ms); swarm {gc_swarm.collections[2]} full, "
             f"{gc_swarm.pause_total_s * 1000:.0f} ms paused")
        m = MEASURE_S.get(n, 30.0)
        note(f"{len(st.ack_latency)} acks ({(st.emitted - emitted) / m:.0f} events/s), {len(st.dashboard_latency)} help updates seen, "
             f"{n / 10:.0f} heartbeats/s; {st.sessions_started} sessions ({st.sessions_offline} granted offline), {swarm.connected()}/{n} connected")
        note(f"CPU while measuring: controller {spent[0] / m * 100:.0f}% of a core, swarm {spent[1] / m * 100:.0f}%")
        rss = proc.memory_info().rss
        figure(f"floor{n}_rss_per_station_kib", (rss - rss_empty) / n / 1024, "KiB")
        note(f"controller RSS {rss / 2**20:.0f} MiB ({rss_empty / 2**20:.0f} MiB with no station); CPU {proc.cpu_percent(1.0):.0f}%")

        # events per second sustained into SQLite: a burst of print jobs from every station
        per_station = max(2, 20_000 // n)
        before = metrics(ctl).get("espace_events_committed", 0)
        cpu = (cpu_s(proc), cpu_s(me))
        total = await swarm.print_burst(per_station)
        # the stations pick the jobs up at their next print poll (up to 5 s): time from the first commit
        await poll(lambda: metrics(ctl).get("espace_events_committed", 0) > before, 30, 0.02)
        t0 = time.monotonic()
        took = await poll(lambda: metrics(ctl).get("espace_events_committed", 0) >= before + total, 120, 0.2)
        if took is None:
            done = metrics(ctl).get("espace_events_committed", 0) - before
            note(f"burst not finished in 120 s: {done:.0f} of {total} committed")
            took = time.monotonic() - t0
        else:
            done = total
        figure(f"floor{n}_events_per_s", done / took, "events/s")
        note(f"{total} print jobs ({per_station} per station) committed in {took:.1f} s from the first commit; "
             f"CPU s: controller {cpu_s(proc) - cpu[0]:.1f}, swarm {cpu_s(me) - cpu[1]:.1f}")

        # controller restart: SIGKILL, start again, wait for every station
        ctl.kill()
        await poll(lambda: swarm.connected() == 0, 60)
        ctl.start()
        proc = psutil.Process(ctl.proc.pid)  # type: ignore[union-attr]
        cpu = (cpu_s(proc), cpu_s(me))
        took = await poll(lambda: connected_on_controller(ctl) >= n, 240, 0.1)
        if took is None:
            note(f"after 240 s only {connected_on_controller(ctl)} of {n} reconnected")
            took = float("nan")
        figure(f"floor{n}_reconnect_s", took, "s")
        note(f"CPU s while reconnecting: controller {cpu_s(proc) - cpu[0]:.1f}, swarm {cpu_s(me) - cpu[1]:.1f}")
    finally:
        stop_lag.set()
        await cancel_all([t for t in (watcher, lagger) if t is not None], 10)
        ctl.kill()
        await swarm.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def main(sizes: list[int]) -> None:
    logging.getLogger("agent").setLevel(logging.ERROR)  # 5,000 "cannot reach the controller" lines say nothing
    with tempfile.TemporaryDirectory(prefix="espace-bench-floor-") as tmp:
        for n in sizes:
            t0 = time.monotonic()
            await bench(n, Path(tmp))
            note(f"{n} stations: {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or list(SIZES)))
