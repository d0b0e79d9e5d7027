"""Benchmark: 61 stations and the floor's health while 1,000 concurrent bad logins hammer ``POST /login``.

Run from the repository root: ``python tests/bench/bench_login_flood.py``. A real controller
process (``trusted_proxies = ["127.0.0.1"]``: each flooding request says it comes from its own
address in ``X-Forwarded-For``, so the flood is not simply stopped by the per-client caps and
reaches argon2's pool), the swarm of 61 stations in this process (heartbeats every 10 s, simulated
visitors at 60x), ``/healthz`` asked every 50 ms. The flood runs in a process of its own (it would
otherwise slow the swarm's loop and count as the controller's latency): 1,000 connections,
posting a wrong password for ``bench`` or a made-up login at once (a wave), the next wave as soon as
every answer of the last one is in, for the measuring window.
It prints:

* ``login_flood_base_healthz_p99_ms`` / ``login_flood_healthz_p99_ms`` - ``/healthz`` without and with the flood;
* ``login_flood_base_ack_p99_ms`` / ``login_flood_ack_p99_ms`` - event -> commit -> ack for the 61 stations;
* ``login_flood_healthz_ratio`` / ``login_flood_ack_ratio`` - flood over base (target: at most 2);
* ``login_flood_logins_per_s`` - login answers per second during the flood, and a note of their statuses.

Loopback only; every loop is bounded by the window; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sim.prepare import prepare_site  # noqa: E402
from sim.swarm import Swarm, Visitors, percentile  # noqa: E402
from tests.support.procs import ControllerProc, shared_clock  # noqa: E402

STATIONS = 61
CONCURRENT = 1000
WINDOW_S = 20.0
WARMUP_S = 8.0
STAFF = ("bench", "bench-password-0123456789")


def figure(name: str, value: float, unit: str) -> None:
    text = "nan" if value != value else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}")
    print(f"bench {name}: {text} {unit}", flush=True)


def note(text: str) -> None:
    print(f"  # {text}", flush=True)


async def flood(url: str, seconds: float, concurrent: int) -> None:
    """The attacker: waves of ``concurrent`` bad logins sent at once, each wave answered, until ``seconds`` pass."""
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    rng = random.Random(13)

    async def one(http: aiohttp.ClientSession, n: int) -> None:
        login = STAFF[0] if n % 4 == 0 else f"guess{rng.randrange(10**6)}"
        client = f"10.{n // 250}.{n % 250}.{rng.randrange(1, 250)}"
        try:
            async with http.post(url + "/login", json={"login": login, "password": "wrong-guess"},
                                 headers={"X-Forwarded-For": client}) as r:  # fmt: skip
                statuses[f"{r.status} {(await r.json()).get('error', 'ok')}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    waves = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrent), timeout=timeout) as http:
        while time.monotonic() < deadline:
            await asyncio.gather(*(one(http, n) for n in range(concurrent)))
            waves += 1
    statuses["waves"] = waves
    print(json.dumps(dict(statuses)), flush=True)


async def sample_healthz(url: str, until: float, out: list[float]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url + "/healthz") as r:
                    await r.read()
                    out.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)


async def measure(ctl: ControllerProc, swarm: Swarm, seconds: float) -> tuple[float, float, int]:
    swarm.stats.reset_latency()
    health: list[float] = []
    await sample_healthz(ctl.url, time.monotonic() + seconds, health)
    return percentile(health, 99) * 1000, percentile(swarm.stats.ack_latency, 99) * 1000, len(swarm.stats.ack_latency)


async def main() -> None:
    logging.getLogger("agent").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="espace-bench-login-") as tmp:
        folder = Path(tmp) / "site"
        config, db, tokens = prepare_site(folder, STATIONS)
        config.write_text('trusted_proxies = ["127.0.0.1"]\n' + config.read_text("utf-8"), encoding="utf-8")
        from controller import staff
        from controller.store.store import connect, migrate

        conn = connect(db)
        migrate(conn)
        staff.add_staff(conn, STAFF[0], STAFF[1], "steward", "fr", time.time())
        conn.conn.close()
        clock = shared_clock(speed=60.0)
        ctl = ControllerProc(folder, clock, config=config)
        ctl.db = db
        ctl.start()
        swarm = Swarm(ctl.ws_url, tokens, clock, heartbeat_s=10.0, visitors=Visitors(gap_minutes=15.0), seed=STATIONS)
        try:
            await swarm.start(connect_within=60)
            await asyncio.sleep(WARMUP_S)
            base_h, base_a, base_n = await measure(ctl, swarm, WINDOW_S)
            attacker = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--flood", ctl.url, str(WINDOW_S + 4), str(CONCURRENT), stdout=asyncio.subprocess.PIPE
            )
            await asyncio.sleep(3.0)  # let the 1,000 connections open
            t0 = time.monotonic()
            procs = {"controller": psutil.Process(ctl.proc.pid), "attacker": psutil.Process(attacker.pid)}  # type: ignore[union-attr]
            cpu0 = {k: sum(pr.cpu_times()[:2]) for k, pr in procs.items()}
            flood_h, flood_a, flood_n = await measure(ctl, swarm, WINDOW_S)
            cpu = {k: (sum(pr.cpu_times()[:2]) - cpu0[k]) / WINDOW_S * 100 for k, pr in procs.items()}
            raw, _ = await asyncio.wait_for(attacker.communicate(), 120)
            took = time.monotonic() - t0 + 3.0
            out = raw.decode().strip()
            statuses = json.loads(out.splitlines()[-1]) if out else {}
            waves = statuses.pop("waves", 0)
            figure("login_flood_base_healthz_p99_ms", base_h, "ms")
            figure("login_flood_healthz_p99_ms", flood_h, "ms")
            figure("login_flood_healthz_ratio", flood_h / base_h if base_h else float("nan"), "x")
            figure("login_flood_base_ack_p99_ms", base_a, "ms")
            figure("login_flood_ack_p99_ms", flood_a, "ms")
            figure("login_flood_ack_ratio", flood_a / base_a if base_a else float("nan"), "x")
            figure("login_flood_logins_per_s", sum(statuses.values()) / took, "logins/s")
            note(f"acks measured: {base_n} without the flood, {flood_n} with it; {swarm.connected()}/{STATIONS} connected")
            note(f"login answers during the flood ({waves} waves of {CONCURRENT}): {statuses}")
            note(f"CPU during the flood: controller {cpu['controller']:.0f}% of a core, attacker {cpu['attacker']:.0f}%; "
                 f"load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores")
        finally:
            ctl.kill()
            await swarm.stop()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flood"]:
        asyncio.run(flood(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(main())
