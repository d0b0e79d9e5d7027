"""Benchmark: 61 stations and the floor's health while 1,000 concurrent bad logins hammer ``POST /login``.

Run from the repository root: ``python tests/bench/bench_login_flood.py``. A real controller
process (``trusted_proxies = ["127.0.0.1"]``), the swarm of 61 stations in this process (heartbeats
every 10 s, simulated visitors at 60x), ``/healthz`` asked every 50 ms; the stations and ``/healthz``
always talk to the controller directly (the stations' link). The flood runs in a process of its own
(it would otherwise slow the swarm's loop and count as the controller's latency): 1,000 connections,
posting a wrong password for ``bench`` or a made-up login at once (a wave), the next wave as soon as
every answer of the last one is in, for the measuring window. Twice:

* *direct*: the attacker talks to the controller itself, pretending to be the trusted proxy (each
  request says it comes from its own address in ``X-Forwarded-For``, so the flood is not simply
  stopped by the per-client caps and reaches argon2's pool);
* *proxy*: the attacker talks TLS to Debian's nginx running ``deploy/controller/nginx-espace.conf``
  as written (but for its loopback port, certificate and upstream, as in
  ``tests/e2e/test_e2e_nginx.py``), each connection from its own loopback address (127.1.x.y), so
  the per-address limit lets it through and only the site-wide cap stands. Skipped, with a note,
  when nginx is not installed.

It prints:

* ``login_flood_base_healthz_p99_ms`` / ``login_flood_base_ack_p99_ms`` - ``/healthz`` and event ->
  commit -> ack for the 61 stations, without a flood;
* ``login_flood_direct_healthz_p99_ms`` / ``login_flood_direct_ack_p99_ms`` and their ``_ratio`` (flood
  over base; target: at most 2), ``login_flood_direct_logins_per_s`` (login answers per second);
* the same ``login_flood_proxy_*`` through nginx, their ratios over ``login_flood_proxy_base_*`` (a
  quiet window measured again just before, nginx in place: the host's other load drifts), and
  ``login_flood_proxy_reached_per_s``: the posts nginx let through to the controller, a second (the
  others it answered 429 itself);
* notes of the answers' statuses and the CPU each process took.

The attacker is on a core of its own (the machine's last one; ``sched_setaffinity``), as it would be
on its own machine on the LAN, and everything Espace runs (the controller, nginx) shares the other
cores with the 61 stations and the sampler, in the quiet windows as in the floods. Sharing every
core with the attacker measures the attacker's own work (its TLS, its HTTP client) as the
controller's latency; ``--shared-cores`` runs it that way all the same. With one core, it is shared.

Loopback only; every loop is bounded by the window; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
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
from tests.support.procs import ControllerProc, free_port, shared_clock  # noqa: E402

STATIONS = 61
CONCURRENT = 1000
WINDOW_S = 20.0
WARMUP_S = 8.0
SETTLE_S = 8.0  # between the two floods: the argon2 queue drains, the swarm catches up
STAFF = ("bench", "bench-password-0123456789")


def own_core() -> int | None:
    """The core the attacker gets to itself: the last one, or None when there is only one (or no affinity here)."""
    if not hasattr(os, "sched_setaffinity") or "--shared-cores" in sys.argv:
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[-1] if len(cores) >= 2 else None


CORE = own_core()  # taken at import, before main() narrows this process to the other cores


def figure(name: str, value: float, unit: str) -> None:
    text = "nan" if value != value else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}")
    print(f"bench {name}: {text} {unit}", flush=True)


def note(text: str) -> None:
    print(f"  # {text}", flush=True)


async def flood(url: str, seconds: float, concurrent: int, via_proxy: bool, core: int | None) -> None:
    """The attacker: waves of ``concurrent`` bad logins sent at once, each wave answered, until ``seconds`` pass.

    Direct, it says each request's address in ``X-Forwarded-For``; through the proxy (``https``, the
    certificate not checked), each connection comes from its own loopback address instead.
    """
    if core is not None:
        os.sched_setaffinity(0, {core})
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    rng = random.Random(13)

    async def one(http: aiohttp.ClientSession, n: int) -> None:
        login = STAFF[0] if n % 4 == 0 else f"guess{rng.randrange(10**6)}"
        headers = {} if via_proxy else {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.{rng.randrange(1, 250)}"}
        try:
            async with http.post(url + "/login", json={"login": login, "password": "wrong-guess"}, headers=headers) as r:
                if r.content_type == "application/json":
                    statuses[f"{r.status} {(await r.json()).get('error', 'ok')}"] += 1
                else:  # nginx's own answer
                    await r.read()
                    statuses[f"{r.status} nginx"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    waves = 0
    async with contextlib.AsyncExitStack() as stack:
        if via_proxy:  # one session a connection, each bound to its own source address
            sessions = [
                await stack.enter_async_context(aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1, ssl=False, local_addr=(f"127.1.{n // 250}.{n % 250 + 1}", 0)),
                    timeout=timeout,
                ))  # fmt: skip
                for n in range(concurrent)
            ]
        else:
            shared = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrent), timeout=timeout)
            )
            sessions = [shared] * concurrent
        while time.monotonic() < deadline:
            await asyncio.gather(*(one(http, n) for n, http in enumerate(sessions)))
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


class Proxy:
    """Debian's nginx with the deploy file, on a free loopback port, in front of ``upstream`` (None: no nginx here)."""

    def __init__(self, tmp: Path, upstream: int) -> None:
        from controller.tls import make_self_signed
        from tests.e2e.test_e2e_nginx import NGINX, nginx_conf, start_nginx, wait_tls

        self.proc = None
        if not Path(NGINX).exists():
            return
        cert, key = tmp / "tls.pem", tmp / "tls.key"
        make_self_signed(cert, key, ["127.0.0.1"])
        self.port = free_port()
        self.proc = start_nginx(tmp, nginx_conf(tmp, self.port, upstream, cert, key, connections=4 * CONCURRENT))
        try:
            wait_tls(self.port)
        except OSError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        """CPU seconds of nginx's master and workers so far."""
        assert self.proc is not None
        master = psutil.Process(self.proc.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [master, *master.children()])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


async def flooded(ctl: ControllerProc, swarm: Swarm, target: str, via_proxy: bool, proxy: Proxy | None) -> dict[str, float]:
    """Measure while the attacker floods ``target``; its answers' statuses and the CPU each process took."""
    attacker = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--flood", target, str(WINDOW_S + 4), str(CONCURRENT), "proxy" if via_proxy else "direct", str(CORE),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(3.0)  # let the 1,000 connections open
    t0 = time.monotonic()
    procs = {"controller": psutil.Process(ctl.proc.pid), "attacker": psutil.Process(attacker.pid)}  # type: ignore[union-attr]
    cpu0 = {k: sum(pr.cpu_times()[:2]) for k, pr in procs.items()}
    nginx0 = proxy.cpu() if proxy else 0.0
    psutil.cpu_percent(percpu=True)  # from here
    healthz, ack, acks = await measure(ctl, swarm, WINDOW_S)
    cores = psutil.cpu_percent(percpu=True)
    cpu = {k: (sum(pr.cpu_times()[:2]) - cpu0[k]) / WINDOW_S * 100 for k, pr in procs.items()}
    if proxy:
        cpu["nginx"] = (proxy.cpu() - nginx0) / WINDOW_S * 100
    raw, _ = await asyncio.wait_for(attacker.communicate(), 120)
    took = time.monotonic() - t0 + 3.0
    out = raw.decode().strip()
    statuses = json.loads(out.splitlines()[-1]) if out else {}
    waves = statuses.pop("waves", 0)
    answered = sum(v for k, v in statuses.items() if k[:1].isdigit())
    cut = statuses.get("429 nginx", 0)
    note(f"acks measured: {acks} during this flood; {swarm.connected()}/{STATIONS} connected")
    note(f"login answers during the flood ({waves} waves of {CONCURRENT}): {statuses}")
    if via_proxy:
        note(f"nginx answered {cut} of {answered} itself (429); {answered - cut} reached the controller")
    note("CPU during the flood (% of a core): " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
         + f"; load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores, each busy "
         + ", ".join(f"{c:.0f}%" for c in cores))  # fmt: skip
    return {"healthz": healthz, "ack": ack, "logins_per_s": answered / took, "reached_per_s": (answered - cut) / took}


async def quiet(ctl: ControllerProc, swarm: Swarm, name: str, where: str) -> tuple[float, float]:
    """A window without a flood: its ``/healthz`` and ack p99, printed as ``<name>_*``."""
    base_h, base_a, base_n = await measure(ctl, swarm, WINDOW_S)
    figure(f"{name}_healthz_p99_ms", base_h, "ms")
    figure(f"{name}_ack_p99_ms", base_a, "ms")
    note(f"acks measured: {base_n} without a flood{where}")
    return base_h, base_a


def report(kind: str, got: dict[str, float], base_h: float, base_a: float) -> None:
    figure(f"login_flood_{kind}_healthz_p99_ms", got["healthz"], "ms")
    figure(f"login_flood_{kind}_healthz_ratio", got["healthz"] / base_h if base_h else float("nan"), "x")
    figure(f"login_flood_{kind}_ack_p99_ms", got["ack"], "ms")
    figure(f"login_flood_{kind}_ack_ratio", got["ack"] / base_a if base_a else float("nan"), "x")
    figure(f"login_flood_{kind}_logins_per_s", got["logins_per_s"], "logins/s")
    if kind == "proxy":
        figure("login_flood_proxy_reached_per_s", got["reached_per_s"], "logins/s")


async def main() -> None:
    logging.getLogger("agent").setLevel(logging.ERROR)
    core = CORE
    if core is None:
        note("the attacker shares every core with the controller, nginx and the stations")
    else:  # set before anything starts: the controller and nginx inherit it
        os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - {core})
        note(f"the attacker on core {core} of its own; the controller, nginx and the stations on {sorted(os.sched_getaffinity(0))}")
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
        proxy: Proxy | None = None
        swarm = Swarm(ctl.ws_url, tokens, clock, heartbeat_s=10.0, visitors=Visitors(gap_minutes=15.0), seed=STATIONS)
        try:
            await swarm.start(connect_within=60)
            await asyncio.sleep(WARMUP_S)
            base_h, base_a = await quiet(ctl, swarm, "login_flood_base", "")
            note("direct: the attacker talks to the controller itself, as if it were the trusted proxy")
            report("direct", await flooded(ctl, swarm, ctl.url, False, None), base_h, base_a)
            nginx_dir = Path(tmp) / "nginx"
            nginx_dir.mkdir()
            proxy = Proxy(nginx_dir, ctl.port)
            if proxy.proc is None:
                note("proxy: skipped, nginx is not installed (Debian's package: nginx)")
                return
            await asyncio.sleep(SETTLE_S)
            # the quiet window just before this flood is its base: another load on the host drifts
            base_h, base_a = await quiet(ctl, swarm, "login_flood_proxy_base", ", nginx in place")
            note("proxy: the attacker talks TLS to nginx with the deploy file, each connection from its own address")
            report("proxy", await flooded(ctl, swarm, proxy.url, True, proxy), base_h, base_a)
        finally:
            if proxy is not None:
                proxy.stop()
            ctl.kill()
            await swarm.stop()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flood"]:
        asyncio.run(flood(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "proxy",
                          None if sys.argv[6] == "None" else int(sys.argv[6])))
    else:
        asyncio.run(main())
