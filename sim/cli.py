"""``espace-sim``: the demo floor, the swarm of simulated stations, and the site a swarm runs against.

Sub-commands load their module only when they run (``demo`` needs the
controller's app, ``swarm`` the agent; ``prepare`` neither's network code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from espace.clock import clock_from_spec
from espace.logs import add_log_options, setup_logging


def cmd_demo(args: argparse.Namespace) -> int:
    from sim.demo import run_demo

    return run_demo(args)


def cmd_prepare(args: argparse.Namespace) -> int:
    from sim.prepare import prepare_site

    config, db, _ = prepare_site(args.dir, args.count)
    print(f"site: {config}\nstore: {db}\ntokens: {Path(args.dir) / 'tokens.txt'}")
    return 0


def cmd_swarm(args: argparse.Namespace) -> int:
    from sim.prepare import read_tokens
    from sim.swarm import SwarmStats, Visitors, run_swarm

    try:
        tokens = read_tokens(args.tokens_file)
    except (OSError, ValueError) as exc:
        print(f"error: --tokens-file {args.tokens_file}: {exc}", file=sys.stderr)
        return 2
    clock = clock_from_spec(args.clock)
    visitors = None if args.no_visitors else Visitors(gap_minutes=args.gap_minutes)

    async def main() -> SwarmStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_swarm(
            args.count, args.url, tokens, clock, args.heartbeat, duration=args.duration, visitors=visitors,
            seed=args.seed, stats_file=args.stats_file, floor_url=args.floor_url, stop=stop, freeze=True,
        )  # fmt: skip

    try:
        stats = asyncio.run(main())
    except ValueError as exc:  # more stations asked than tokens given
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats.as_dict()), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="espace-sim", description="Simulated stations and visitors against the real controller.")
    add_log_options(ap)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser("demo", help="the controller with a simulated floor of 61 stations on a fast clock (make demo)")
    sp.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    sp.add_argument("--speed", type=float, default=30.0, help="how much faster than real time (default 30)")
    sp.add_argument("--start", default=None, help="virtual start instant (default: today 09:00 local, or the next weekday)")
    sp.add_argument("--arrivals-per-hour", type=float, default=40.0, help="walk-up visitors per hour (default 40: a busy day)")
    sp.add_argument("--database", default=None, help="store path (default: a fresh file under var/demo/)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("prepare", help="write DIR/site.toml, DIR/controller.db and DIR/tokens.txt for N stations")
    sp.add_argument("--count", type=int, required=True, help="number of stations")
    sp.add_argument("dir", metavar="DIR", help="folder to write (created if missing)")
    sp.set_defaults(func=cmd_prepare)

    sp = sub.add_parser("swarm", help="run N simulated stations from one process (load tests, benchmarks)")
    sp.add_argument("--count", type=int, required=True, help="number of stations")
    sp.add_argument("--url", required=True, help="controller WebSocket URL, e.g. ws://127.0.0.1:8080/ws/agent")
    sp.add_argument("--tokens-file", required=True, help="'station token' per line (written by prepare)")
    sp.add_argument("--clock", default=None, help="virtual clock spec shared with the controller")
    sp.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats (default 10)")
    sp.add_argument("--duration", type=float, default=None, help="stop after this many real seconds (default: until SIGTERM)")
    sp.add_argument("--gap-minutes", type=float, default=20.0, help="mean virtual minutes between visitors on a free station")
    sp.add_argument("--no-visitors", action="store_true", help="only connect and send heartbeats")
    sp.add_argument("--seed", type=int, default=0, help="random seed of the simulated visitors")
    sp.add_argument("--stats-file", default=None, help="write the swarm's figures as JSON here every second")
    sp.add_argument("--floor-url", default=None, help="ws://…/ws/floor: measure event -> dashboard latency")
    sp.set_defaults(func=cmd_swarm)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
