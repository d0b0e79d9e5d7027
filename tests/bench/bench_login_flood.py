"""Benchmark: 61 stations and the floor's health while 1,000 concurrent bad logins hammer ``POST /login``.

Run from the repository root: ``python tests/bench/bench_login_flood.py``. A real controller
process (``trusted_proxies = ["127.0.0.1"]``), the swarm of 61 stations in this process (heartbeats
every 10 s, simulated visitors at 60x), ``/healthz`` asked every 50 ms; the stations and ``/healthz``
always talk to the controller directly (the stations' link). The flood runs in a process of its own
(it would otherwise slow the swarm's loop and count as the controller's latency): 1,000 connections,
posting a wrong password for ``bench`` or a made-up login at once (a wave), the next wave as soon as
every answer of the last one is in. Each flood is measured against quiet chunks taken in turn with
flooded ones over the same minute (the attacker ``SIGSTOP``-ed, its connections open and idle, then
``SIGCONT``-ed: six of each, 5 s long), so that the host's drifting load weighs on both alike. Three
floods:

* *direct*: the attacker talks to the controller itself, pretending to be the trusted proxy (each
  request says it comes from its own address in ``X-Forwarded-For``, so the flood is not simply
  stopped by the per-client caps and reaches argon2's pool);
* *proxy*: the attacker talks TLS to Debian's nginx running ``deploy/controller/nginx-espace.conf``
  as written (but for its loopback port, certificate and upstream, as in
  ``tests/e2e/test_e2e_nginx.py``), each connection from its own loopback address (127.1.x.y), so
  the per-address limit lets it through and only the site-wide cap stands; nginx shares the
  controller's core. Skipped, with a note, when nginx is not installed;
* *proxy_own_core*: the same, with the ``CPUAffinity=`` of ``deploy/controller/cpu-nginx.conf`` and
  ``cpu-controller.conf`` (the documented systemd drop-ins) applied as written to nginx's processes
  and the controller's: the flood's TLS and 429s no longer run on the controller's core. (nginx's
  core is the attacker's here, which slows nginx, not Espace.) Skipped when this host lacks a core
  the drop-ins name, or gives the attacker another core than nginx's.

In every window the 61 stations talk ``wss://`` to nginx (the site's certificate pinned), as in the
documented deployment where the controller listens on 127.0.0.1 only; ``/healthz`` is asked of the
controller itself, as a probe on its host would. Without nginx, the stations talk to the controller
directly and only the first flood is run.

It prints:

* ``login_flood_base_healthz_p99_ms`` / ``login_flood_base_ack_p99_ms`` - ``/healthz`` and event ->
  commit -> ack for the 61 stations in the direct flood's quiet chunks;
* ``login_flood_direct_healthz_p99_ms`` / ``login_flood_direct_ack_p99_ms`` and their ``_ratio`` (flood
  over base; target: at most 2), ``login_flood_direct_logins_per_s`` (login answers per second);
* the same ``login_flood_proxy_*`` through nginx, over ``login_flood_proxy_base_*`` (its own quiet
  chunks, nginx in place), and ``login_flood_proxy_reached_per_s``: the posts nginx let through to
  the controller, a second (the others it answered 429 itself); ``login_flood_proxy_own_core_*``
  likewise;
* notes of the answers' statuses and the CPU each process took, quiet and flooded.

The attacker is on a core of its own (the machine's last one; ``sched_setaffinity``), as it would be
on its own machine on the LAN, and everything Espace runs (the controller, nginx) shares the other
cores with the 61 stations and the sampler, in the quiet windows as in the floods (but for nginx
in *proxy_own_core*). Sharing every
core with the attacker measures the attacker's own work (its TLS, its HTTP client) as the
controller's latency; ``--shared-cores`` runs it that way all the same. With one core, it is shared.

Loopback only; every loop is bounded by its chunks; nothing is asserted.
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
from tests.support.systemd import DEPLOY, cpu_affinity  # noqa: E402

STATIONS = 61
CONCURRENT = 1000
CHUNKS = 6  # quiet and flooded chunks in turn, each CHUNK_S long: 30 s of each, about 150 acks
CHUNK_S = 5.0
SETTLE_CHUNK_S = 1.0  # after stopping or continuing the attacker: its last wave answered, argon2's queue drained
WARMUP_S = 8.0
SETTLE_S = 8.0  # between the floods: the swarm catches up
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

    def stop() -> None:  # the benchmark is done with it: finish this wave, then report
        nonlocal deadline
        deadline = 0.0

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
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


class Phase:
    """What one kind of window (quiet, or flooded) measured, over all its chunks."""

    def __init__(self) -> None:
        self.healthz: list[float] = []
        self.acks: list[float] = []
        self.seconds = 0.0
        self.cpu: Counter[str] = Counter()  # CPU seconds per process
        self.worst: list[str] = []  # per chunk: its slowest /healthz and ack, when either passes 100 ms
        self.busy: list[float] = []  # per core: busy seconds
        self.total: list[float] = []  # per core: seconds


class Proxy:
    """Debian's nginx with the deploy file, on a free loopback port, in front of ``upstream`` (None: no nginx here)."""

    def __init__(self, tmp: Path, upstream: int) -> None:
        from controller.tls import make_self_signed
        from tests.e2e.test_e2e_nginx import NGINX, nginx_conf, start_nginx, wait_tls

        self.proc = None
        if not Path(NGINX).exists():
            return
        cert, key = tmp / "tls.pem", tmp / "tls.key"
        self.fingerprint = make_self_signed(cert, key, ["127.0.0.1"])
        self.port = free_port()
        self.proc = start_nginx(tmp, nginx_conf(tmp, self.port, upstream, cert, key, connections=4 * CONCURRENT, error_level="error"))
        try:
            wait_tls(self.port)
        except OSError:
            self.stop()
            raise

    def pin(self, cores: set[int]) -> None:
        """Move nginx's master and workers to ``cores`` (as systemd's ``CPUAffinity=`` would)."""
        assert self.proc is not None
        master = psutil.Process(self.proc.pid)
        for p in [master, *master.children()]:
            p.cpu_affinity(sorted(cores))

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


async def flooded(ctl: ControllerProc, swarm: Swarm, kind: str, target: str, via_proxy: bool, proxy: Proxy | None) -> None:
    """Quiet and flooded chunks in turn (the attacker stopped and continued), then both phases' figures.

    The attacker opens its 1,000 connections once; then :data:`CHUNKS` times a quiet chunk (the
    attacker ``SIGSTOP``-ed: its connections stay open, idle) and a flooded one (``SIGCONT``), each
    :data:`CHUNK_S` long after :data:`SETTLE_CHUNK_S` of settling. Drift in the host's load (or in
    the simulated day) then weighs on both phases alike, where a quiet window measured before a
    flood could differ from it by 2x on its own.
    """
    attacker = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--flood", target, str(CHUNKS * 2 * (CHUNK_S + SETTLE_CHUNK_S) + 60), str(CONCURRENT),
        "proxy" if via_proxy else "direct", str(CORE), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(3.0)  # let the 1,000 connections open
    procs = {"controller": psutil.Process(ctl.proc.pid), "attacker": psutil.Process(attacker.pid)}  # type: ignore[union-attr]

    def cpu_now() -> dict[str, float]:
        got = {k: sum(pr.cpu_times()[:2]) for k, pr in procs.items()}
        if proxy:
            got["nginx"] = proxy.cpu()
        return got

    phases = {"quiet": Phase(), "flood": Phase()}
    t_flood = 0.0
    for _ in range(CHUNKS):
        for name, sig in (("quiet", signal.SIGSTOP), ("flood", signal.SIGCONT)):
            attacker.send_signal(sig)
            await asyncio.sleep(SETTLE_CHUNK_S)
            phase = phases[name]
            swarm.stats.reset_latency()
            cpu0, cores0, t0 = cpu_now(), psutil.cpu_times(percpu=True), time.monotonic()
            before = len(phase.healthz)
            await sample_healthz(ctl.url, t0 + CHUNK_S, phase.healthz)
            took = time.monotonic() - t0
            phase.acks += swarm.stats.ack_latency
            worst_h, worst_a = max(phase.healthz[before:], default=0.0), max(swarm.stats.ack_latency, default=0.0)
            if max(worst_h, worst_a) > 0.1:
                phase.worst.append(f"chunk {len(phase.worst) + 1} at {time.strftime('%H:%M:%S')}: /healthz {worst_h * 1000:.0f} ms, ack {worst_a * 1000:.0f} ms")
            phase.seconds += took
            phase.cpu.update({k: v - cpu0[k] for k, v in cpu_now().items()})
            cores = psutil.cpu_times(percpu=True)
            spent = [sum(c1) - sum(c0) for c0, c1 in zip(cores0, cores, strict=True)]
            idle = [c1.idle - c0.idle for c0, c1 in zip(cores0, cores, strict=True)]
            phase.busy = [b + s - i for b, s, i in zip(phase.busy or [0.0] * len(spent), spent, idle, strict=True)]
            phase.total = [t + s for t, s in zip(phase.total or [0.0] * len(spent), spent, strict=True)]
            if name == "flood":
                t_flood += took + SETTLE_CHUNK_S
    attacker.send_signal(signal.SIGTERM)  # it finishes its wave and prints what it was answered
    raw, _ = await asyncio.wait_for(attacker.communicate(), 120)
    out = raw.decode().strip()
    statuses = json.loads(out.splitlines()[-1]) if out else {}
    waves = statuses.pop("waves", 0)
    answered = sum(v for k, v in statuses.items() if k[:1].isdigit())
    cut = statuses.get("429 nginx", 0)

    def p99(values: list[float]) -> float:
        return percentile(values, 99) * 1000

    quiet_p, flood_p = phases["quiet"], phases["flood"]
    base = "login_flood_base" if kind == "direct" else f"login_flood_{kind}_base"
    figure(f"{base}_healthz_p99_ms", p99(quiet_p.healthz), "ms")
    figure(f"{base}_ack_p99_ms", p99(quiet_p.acks), "ms")
    for what, values, quiet_values in (("healthz", flood_p.healthz, quiet_p.healthz), ("ack", flood_p.acks, quiet_p.acks)):
        got, was = p99(values), p99(quiet_values)
        figure(f"login_flood_{kind}_{what}_p99_ms", got, "ms")
        figure(f"login_flood_{kind}_{what}_ratio", got / was if was else float("nan"), "x")
    figure(f"login_flood_{kind}_logins_per_s", answered / t_flood if t_flood else float("nan"), "logins/s")
    if via_proxy:
        figure(f"login_flood_{kind}_reached_per_s", (answered - cut) / t_flood if t_flood else float("nan"), "logins/s")
    note(f"{CHUNKS} quiet and {CHUNKS} flooded chunks of {CHUNK_S:.0f} s; samples quiet/flood: /healthz "
         f"{len(quiet_p.healthz)}/{len(flood_p.healthz)}, acks {len(quiet_p.acks)}/{len(flood_p.acks)}; "
         f"{swarm.connected()}/{STATIONS} stations connected")  # fmt: skip
    note(f"answers to the flood ({waves} waves of {CONCURRENT}): {statuses}")
    if via_proxy:
        note(f"nginx answered {cut} of {answered} itself (429); {answered - cut} reached the controller")
    for name, phase in phases.items():
        if phase.worst:
            note(f"{name}: chunks with an answer over 100 ms: " + "; ".join(phase.worst))
        note(f"CPU {name} (% of a core): " + ", ".join(f"{k} {v / phase.seconds * 100:.0f}" for k, v in phase.cpu.items())
             + "; cores busy " + ", ".join(f"{b / t * 100:.0f}%" for b, t in zip(phase.busy, phase.total, strict=True)))  # fmt: skip


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
        nginx_dir = Path(tmp) / "nginx"
        nginx_dir.mkdir()
        proxy: Proxy | None = Proxy(nginx_dir, ctl.port)
        if proxy is not None and proxy.proc is None:
            proxy = None
            note("the stations talk to the controller directly: nginx is not installed (Debian's package: nginx)")
            swarm = Swarm(ctl.ws_url, tokens, clock, heartbeat_s=10.0, visitors=Visitors(gap_minutes=15.0), seed=STATIONS)
        else:  # the documented deployment: everything but the host's own /healthz probe through nginx
            assert proxy is not None
            note("the stations talk wss:// to nginx (the site's certificate pinned), nginx to the controller on 127.0.0.1")
            swarm = Swarm(f"wss://127.0.0.1:{proxy.port}/ws/agent", tokens, clock, heartbeat_s=10.0,
                          visitors=Visitors(gap_minutes=15.0), seed=STATIONS, ssl=aiohttp.Fingerprint(bytes.fromhex(proxy.fingerprint)))  # fmt: skip
        try:
            await swarm.start(connect_within=60)
            await asyncio.sleep(WARMUP_S)
            note("direct: the attacker talks to the controller's own port, as if it were the trusted proxy (a port left open)")
            await flooded(ctl, swarm, "direct", ctl.url, False, None)
            if proxy is None:
                note("proxy: skipped, nginx is not installed (Debian's package: nginx)")
                return
            await asyncio.sleep(SETTLE_S)
            note("proxy: the attacker talks TLS to nginx with the deploy file, each connection from its own address")
            await flooded(ctl, swarm, "proxy", proxy.url, True, proxy)
            nginx_cores, ctl_cores = (cpu_affinity(DEPLOY / "controller" / f) for f in ("cpu-nginx.conf", "cpu-controller.conf"))
            if core is None or nginx_cores != {core} or not ctl_cores <= set(os.sched_getaffinity(0)):
                note(f"proxy_own_core: skipped, the drop-ins name cores {sorted(nginx_cores)} (nginx) and "
                     f"{sorted(ctl_cores)} (controller); the attacker is on {core}")  # fmt: skip
                return
            proxy.pin(nginx_cores)
            psutil.Process(ctl.proc.pid).cpu_affinity(sorted(ctl_cores))  # type: ignore[union-attr]
            await asyncio.sleep(SETTLE_S)
            note(f"proxy_own_core: the same flood, nginx on core(s) {sorted(nginx_cores)} (with the attacker), "
                 f"the controller on {sorted(ctl_cores)} with the stations")  # fmt: skip
            await flooded(ctl, swarm, "proxy_own_core", proxy.url, True, proxy)
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
