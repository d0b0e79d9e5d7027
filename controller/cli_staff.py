"""``espace-controller staff add|list|disable``: staff accounts from the command line.

Hooked into :mod:`controller.cli` by ``add_parser(sub)``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from controller import staff
from controller.settings import load_settings
from controller.store import Store, run_with_store

T = TypeVar("T")


def _with_store(args: argparse.Namespace, fn: Callable[[Store], Awaitable[T]]) -> T:
    overrides = {"database": args.database} if args.database else {}
    return run_with_store(load_settings(args.config, **overrides).database, fn)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise staff.StaffError("the two passwords differ")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args)
        who = _with_store(
            args,
            lambda store: store.write(
                lambda db: staff.add_staff(db, args.login, password, args.role, args.lang, time.time())
            ),
        )
    except staff.StaffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"added {who.login} ({who.role}, {who.lang})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = _with_store(args, lambda store: store.read(staff.list_staff))
    for s in rows:
        print(f"{s.login:20} {s.role:11} {s.lang}  {'disabled' if s.disabled else ''}".rstrip())
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    found = _with_store(args, lambda store: store.write(lambda db: staff.disable_staff(db, args.login)))
    if not found:
        print(f"error: no staff account {args.login}", file=sys.stderr)
        return 2
    print(f"disabled {args.login}; their sessions are ended")
    return 0


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", "-c", help="site configuration (TOML); defaults: the Brussels floor")
    sp.add_argument("--database", help="SQLite store path (overrides the configuration)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    st = sub.add_parser("staff", help="staff accounts: stewards, back office, admins")
    stsub = st.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    sp = stsub.add_parser("add", help="add a staff account (asks for the password)")
    _common(sp)
    sp.add_argument("login", help="login, e.g. amina (lower case)")
    sp.add_argument("--role", required=True, choices=staff.ROLES, help="steward, backoffice or admin")
    sp.add_argument("--lang", default="fr", choices=staff.LANGS, help="dashboard language (default fr)")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sp.set_defaults(func=cmd_add)
    sp = stsub.add_parser("list", help="list staff accounts")
    _common(sp)
    sp.set_defaults(func=cmd_list)
    sp = stsub.add_parser("disable", help="disable an account and end its sessions")
    _common(sp)
    sp.add_argument("login")
    sp.set_defaults(func=cmd_disable)
