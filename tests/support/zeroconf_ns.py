"""The namespace side of the zeroconf end-to-end test.

Run ONLY inside a private network namespace (``tests/e2e/test_zeroconf.py``
starts it under ``unshare --net`` with loopback up and multicast routed to
``lo``): it starts real controller processes with zeroconf on, a real agent
process that has no URL (discovery only), and Debian's ``dig`` as the DNS-SD
client. It checks nothing itself: it prints one JSON object of what it saw,
and the test judges.

    python tests/support/zeroconf_ns.py find|follow|follow-crash|proxy <tmpdir>
    python tests/support/zeroconf_ns.py agent --station … --token … --state-dir … --clock … --interface 127.0.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SITE_NAME = "Espace test. Brussels"  # the dot must not split the instance label
STATION = "PC-07"


def _in_private_namespace() -> bool:
    """Loopback is the only interface: nothing sent here can leave the machine."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]  # asks this namespace (sysfs may not)


# ---------------------------------------------------------------- the agent process


def run_agent(args: argparse.Namespace) -> int:
    from agent.core import Agent, Probes
    from agent.discovery import ControllerFinder
    from agent.outbox import Outbox
    from agent.pins import Pins
    from espace.clock import clock_from_spec

    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        outbox = Outbox(state / "outbox.db")
        pins = Pins(state / "controller.pin", None)  # as agent/cli.py: learned from the first wss:// advert
        finder = ControllerFinder(args.interface, fallback_url=None, pins=pins)
        agent = Agent(
            args.station, args.token, finder.url, outbox, clock=clock_from_spec(args.clock), probes=Probes(),
            heartbeat_s=1.0, token_file=state / "token", hostname=socket.gethostname(), platform=sys.platform,
            pins=pins, advertised=finder.expected_fingerprint,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await agent.start()
        await stop.wait()
        await agent.stop()
        await finder.async_close()
        outbox.close()

    asyncio.run(main())
    return 0


# ---------------------------------------------------------------- scenarios


def _wait_for_text(path: Path, text: str, timeout: float) -> float | None:
    """Seconds until ``text`` appears in the file, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return round(time.monotonic() - start, 2)
        time.sleep(0.1)
    return None


def _dig() -> str:
    out = subprocess.run(
        ["dig", "-p", "5353", "@127.0.0.1", "_espace._tcp.local", "PTR", "+notcp", "+time=2", "+tries=3"],
        capture_output=True, text=True, timeout=30,
    )
    return out.stdout + out.stderr


def scenario(name: str, tmp: Path) -> dict[str, object]:
    from tests.support.procs import ControllerProc, free_port, shared_clock

    config = tmp / "site.toml"
    site = f'site_name = "{SITE_NAME}"\nzeroconf = true\nzeroconf_interfaces = ["127.0.0.1"]\n'
    seen: dict[str, object] = {"namespace_only_lo": _in_private_namespace()}
    if name == "proxy":  # the documented public-LAN layout: nginx in front, its port and certificate advertised
        from controller.tls import make_self_signed

        cert, key = tmp / "tls.pem", tmp / "tls.key"
        seen["fingerprint"] = make_self_signed(cert, key, ["127.0.0.1"])
        seen["nginx_port"] = nginx_port = free_port()
        site += f'zeroconf_port = {nginx_port}\nzeroconf_tls_cert = "{cert}"\ntrusted_proxies = ["127.0.0.1"]\n'
    config.write_text(site, encoding="utf-8")
    clock = shared_clock()
    ctl = ControllerProc(tmp, clock, config)
    ctl.log = tmp / "controller-1.log"
    token = ctl.add_station(STATION)
    seen["port1"] = ctl.port
    agent: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    agent_log = tmp / "agent.log"
    try:
        ctl.start()
        if name == "proxy":
            from tests.e2e.test_e2e_nginx import nginx_conf, start_nginx, wait_tls

            (tmp / "nginx").mkdir()
            nginx = start_nginx(tmp / "nginx", nginx_conf(tmp / "nginx", nginx_port, ctl.port, cert, key))
            wait_tls(nginx_port)
        seen["advertised_after_s"] = _wait_for_text(ctl.log, "zeroconf: advertising", 15)
        if name in ("find", "proxy"):
            seen["dig"] = _dig()
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "agent", "--station", STATION, "--token", token,
            "--state-dir", str(tmp / "agent-state"), "--clock", clock.spec(), "--interface", "127.0.0.1",
        ]
        with agent_log.open("ab") as logf:
            agent = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        seen["connected1_after_s"] = _wait_for_text(ctl.log, f"{STATION}@127.0.0.1: connected", 30)
        if name in ("follow", "follow-crash"):
            if name == "follow":
                ctl.kill(signal.SIGTERM)  # a clean stop: the goodbye packets go out
                seen["goodbye_after_s"] = _wait_for_text(agent_log, "went away", 10)
            else:
                ctl.kill(signal.SIGKILL)  # no goodbye: the agent keeps the old address until re-announced
            ctl.port = free_port()
            ctl.log = tmp / "controller-2.log"
            seen["port2"] = ctl.port
            ctl.start()
            seen["connected2_after_s"] = _wait_for_text(ctl.log, f"{STATION}@127.0.0.1: connected", 45)
        pin = tmp / "agent-state" / "controller.pin"
        seen["pin"] = pin.read_text().strip() if pin.exists() else None
    finally:
        if nginx is not None:
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait(10)
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(5)
        ctl.kill(signal.SIGTERM)
        for log in sorted(tmp.glob("controller-*.log")) + [agent_log]:
            if log.exists():
                seen[log.name] = log.read_text(errors="replace")[-6000:]
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="zeroconf_ns")
    sub = ap.add_subparsers(dest="command", required=True)
    for n in ("find", "follow", "follow-crash", "proxy"):
        sp = sub.add_parser(n)
        sp.add_argument("tmp", type=Path)
    sp = sub.add_parser("agent")
    sp.add_argument("--station", required=True)
    sp.add_argument("--token", required=True)
    sp.add_argument("--state-dir", required=True)
    sp.add_argument("--clock", required=True)
    sp.add_argument("--interface", action="append", required=True)
    args = ap.parse_args(argv)
    if not _in_private_namespace():
        print("refusing to run: this is not a private network namespace (interfaces other than lo)", file=sys.stderr)
        return 3
    if args.command == "agent":
        logging.basicConfig(level="DEBUG", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("zeroconf").setLevel("INFO")
        logging.getLogger("aiosqlite").setLevel("INFO")
        return run_agent(args)
    print(json.dumps(scenario(args.command, args.tmp)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
