"""``espace-agent``: the station's service, one station with fake probes, the session screens.

Many simulated stations from one process: ``espace-sim swarm`` (:mod:`sim`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.outbox import Outbox
from agent.signals import stop_on_signals
from espace.clock import clock_from_spec
from espace.logs import setup_logging

# The station service keeps a small footprint on a public PC: aiohttp and its helpers run their
# pure-Python code instead of their C extensions (a heartbeat every 10 s needs no speed-up; the
# extensions cost about 2 MB of resident memory). Read by those libraries at import, so set
# before the first import of aiohttp, and only for ``service``: ``run`` needs the speed.
LEAN_ENV = ("AIOHTTP_NO_EXTENSIONS", "YARL_NO_EXTENSIONS", "MULTIDICT_NO_EXTENSIONS",
            "PROPCACHE_NO_EXTENSIONS", "FROZENLIST_NO_EXTENSIONS")  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    """One station with fake probes (tests, demo, trying things out)."""
    from agent.core import Agent, Probes

    token = args.token or os.environ.get("ESPACE_TOKEN")
    state = Path(args.state_dir)
    clock = clock_from_spec(args.clock)

    async def main() -> None:
        outbox = Outbox(state / "outbox.db", keep_acked_max=args.keep_acked)
        ssl = None
        if args.tls_fingerprint:
            from espace.tls import pin

            ssl = pin(args.tls_fingerprint)
        agent = Agent(
            args.station, token, args.url, outbox, clock=clock, probes=Probes(), heartbeat_s=args.heartbeat, ssl=ssl,
            token_file=state / "token", hostname=socket.gethostname(), platform=sys.platform,
            offline_grant_after_s=args.offline_grant_after,
        )
        agent.backoff_scale = args.backoff_scale
        if args.control:
            from agent.control import serve_control

            await serve_control(agent, args.control)
        stop = asyncio.Event()
        stop_on_signals(stop)
        await agent.start()
        print(f"espace-agent: {args.station} running", flush=True)
        await stop.wait()
        await agent.stop()
        outbox.close()

    asyncio.run(main())
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    """The privileged station service: real probes, the session channel, the controller link."""
    from agent.config import ConfigError, build_probes, load_config
    from agent.core import Agent

    try:
        cfg = load_config(args.config)
        probes = build_probes(cfg)
    except (ConfigError, ValueError) as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        if sys.platform == "win32":  # a service has no console: say it where IT looks
            from agent.winservice import event_log_error

            event_log_error(f"configuration: {exc}")
        return 2
    state = Path(cfg.agent.state_dir)

    async def main(stop: asyncio.Event) -> None:
        from agent.pins import Pins

        url: str | Callable[[], Awaitable[str | None]] = cfg.controller.url
        # the controller's pin: configured, or learned from the first wss:// advertisement and kept in the state folder
        pins = Pins(state / "controller.pin", cfg.controller.tls_fingerprint or None)
        finder = None
        if cfg.controller.discover and cfg.controller.interfaces:  # no interface named: no mDNS, no zeroconf loaded
            from agent.discovery import ControllerFinder

            finder = ControllerFinder(cfg.controller.interfaces or None, cfg.controller.url or None, site=cfg.controller.site or None, pins=pins)
            await finder.start()
            url = finder.url
        outbox = Outbox(state / "outbox.db", keep_acked_s=cfg.agent.keep_acked_days * 86400, keep_acked_max=cfg.agent.keep_acked_events)
        agent = Agent(
            cfg.station_id, None, url, outbox, probes=probes, pins=pins, advertised=finder.expected_fingerprint if finder else None,
            heartbeat_s=cfg.agent.heartbeat_seconds,
            print_poll_s=cfg.agent.print_poll_seconds, token_file=state / "token", offline_grant_after_s=cfg.agent.offline_grant_after_seconds,
            hostname=socket.gethostname(), platform=sys.platform, mac=_mac(),
        )
        from agent import channel
        from agent.control import serve_control

        chan = channel.transport()  # a Unix socket, or on Windows a named pipe
        allowed = chan.admitted(cfg.wipe.user or None)  # this service's account and the visitor's
        server = await serve_control(agent, cfg.agent.control_socket, allowed, transport=chan)
        if cfg.wipe.user and sys.platform != "win32":
            import pwd

            # the socket is 0660: the visitor's screen connects through its group (its uid is checked too)
            with contextlib.suppress(KeyError):
                os.chown(cfg.agent.control_socket, -1, pwd.getpwnam(cfg.wipe.user).pw_gid)
        watch = None
        if cfg.lockdown.watch_screen and cfg.wipe.user:  # no screen, no desktop
            from agent.probes.logon import logon_source
            from agent.screenwatch import ScreenWatch

            watch = ScreenWatch(agent, logon_source(cfg.wipe.user, kill_timeout=cfg.wipe.kill_timeout),
                                grace_s=cfg.lockdown.screen_grace_seconds, lost_grace_s=cfg.lockdown.screen_lost_grace_seconds)  # fmt: skip
            agent.screen_watch = watch
        await agent.start()
        if watch is not None:
            watch.start()
        await stop.wait()
        if watch is not None:
            await watch.stop()
        server.close()
        await agent.stop()
        if finder is not None:
            await finder.async_close()
        outbox.close()

    if sys.platform == "win32":
        from agent.winservice import run_service

        return run_service(main, state / "agent.log")  # under the Service Control Manager when it started us
    asyncio.run(_until_signalled(main))
    return 0


async def _until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await main(stop)


def _mac() -> str:
    import uuid

    node = uuid.getnode()
    return ":".join(f"{(node >> s) & 0xFF:02x}" for s in range(40, -1, -8))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="espace-agent", description="The Espace agent: a station's side of Espace.")
    ap.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    ap.add_argument("--log-format", choices=("text", "json"), default="text", help="text, or JSON lines for a log collector")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sp = sub.add_parser("run", help="run one station with simulated OS probes")
    sp.add_argument("--station", required=True, help="station id, e.g. PC-01")
    sp.add_argument("--token", help="station token (or env ESPACE_TOKEN); none: enrol and wait for approval")
    sp.add_argument("--url", required=True, help="controller WebSocket URL, e.g. ws://127.0.0.1:8080/ws/agent")
    sp.add_argument("--state-dir", required=True, help="folder for the outbox and cached rules")
    sp.add_argument("--clock", default=None, help="virtual clock spec shared with the controller (tests)")
    sp.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats (default 10)")
    sp.add_argument("--tls-fingerprint", default=None, help="pin the controller's certificate (sha256 hex) for wss:// URLs")
    sp.add_argument("--control", default=None, help="local control socket path (tests drive the simulated visitor through it)")
    sp.add_argument("--offline-grant-after", type=float, default=15.0,
                    help="real seconds without a link before the station grants sessions from its cached rules (default 15)")
    sp.add_argument("--backoff-scale", type=float, default=1.0,
                    help="reconnection delays times this (default 1; tests that are not about backoff shorten it)")
    sp.add_argument("--keep-acked", type=int, default=None, help="acknowledged events kept for a controller restore (default 20000, for 7 days)")
    sp.set_defaults(func=cmd_run)
    from agent.ui.session_cli import add_parser as add_session_ui_parser

    add_session_ui_parser(sub)  # Tk loads only when session-ui runs, never in the service
    sp = sub.add_parser("service", help="the station service with real OS probes (systemd unit / Windows service)")
    sp.add_argument("--config", "-c", required=True, help="agent configuration (see deploy/station/agent.sample.toml)")
    sp.set_defaults(func=cmd_service)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    if args.func is cmd_service and "aiohttp" not in sys.modules:
        for name in LEAN_ENV:
            os.environ.setdefault(name, "1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
