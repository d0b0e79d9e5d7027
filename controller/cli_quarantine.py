"""``espace-controller quarantine list|accept|discard``: events that wait for an admin.

Hooked into :mod:`controller.cli` by ``add_parser(sub)``. Works while the
controller runs (the store takes one writer at a time; these are short writes).
The same as the dashboard's ``/admin/quarantine`` (:mod:`controller.web.quarantine_api`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import datetime
from typing import Any

from controller.settings import load_settings
from controller.store import run_with_store


def _database(args: argparse.Namespace) -> str:
    overrides = {"database": args.database} if args.database else {}
    return load_settings(args.config, **overrides).database


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def cmd_list(args: argparse.Namespace) -> int:
    from controller import quarantine  # the rules load only for the command that needs them

    status = None if args.status == "all" else args.status
    rows: list[dict[str, Any]] = run_with_store(_database(args), lambda store: store.read(lambda db: quarantine.listing(db, status)))
    if not rows:
        print("no events in quarantine" if status == "waiting" else "nothing")
    for r in rows:
        print(f"{r['id']}  {r['station']:8} seq={r['seq']:<6} {r['type']:16} at {_when(r['at'])}  {r['status']:9} {r['reason']}")
    return 0


def _decide(args: argparse.Namespace, accept: bool) -> int:
    from controller import quarantine
    from controller.store.apply import EventRejected

    actor, now = f"cli:{getpass.getuser()}", time.time()
    if args.all or args.station:
        done, errors = run_with_store(
            _database(args), lambda store: store.write(lambda db: quarantine.decide_all(db, accept, actor, now, args.station))
        )
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"{done} event(s) {'accepted: counted from now on' if accept else 'discarded'}")
        return 1 if errors else 0
    if not args.id:
        print("error: give an event id (see 'quarantine list'), --station or --all", file=sys.stderr)
        return 2
    fn = quarantine.accept if accept else quarantine.discard
    try:
        ids = run_with_store(_database(args), lambda store: store.write(lambda db: fn(db, args.id, actor, now)))
    except quarantine.NotWaiting:
        print(f"error: no event {args.id} waits in quarantine (see 'quarantine list')", file=sys.stderr)
        return 1
    except EventRejected as exc:
        print(f"error: {args.id} cannot be counted: {exc}", file=sys.stderr)
        return 1
    print(f"{len(ids)} event(s) {'accepted: counted from now on' if accept else 'discarded'}")
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    return _decide(args, True)


def cmd_discard(args: argparse.Namespace) -> int:
    return _decide(args, False)


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", "-c", help="site configuration (TOML)")
    sp.add_argument("--database", help="SQLite store path (overrides the configuration)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = sub.add_parser("quarantine", help="stations' events that wait for an admin (an implausible instant)")
    qsub = q.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    sp = qsub.add_parser("list", help="events in quarantine, with the reason")
    _common(sp)
    sp.add_argument("--status", choices=("waiting", "accepted", "discarded", "all"), default="waiting", help="which (default waiting)")
    sp.set_defaults(func=cmd_list)
    for name, func, text in (
        ("accept", cmd_accept, "count an event (and its session's) as if it had just arrived"),
        ("discard", cmd_discard, "never count an event (and its session's); it stays listed as discarded"),
    ):
        sp = qsub.add_parser(name, help=text)
        _common(sp)
        sp.add_argument("id", nargs="?", help="event id, from 'quarantine list'")
        sp.add_argument("--station", help="every waiting event of this station")
        sp.add_argument("--all", action="store_true", help="every waiting event")
        sp.set_defaults(func=func)
