"""``espace-controller``: run the controller and look after its store."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from pathlib import Path

from aiohttp import web

from controller import cli_export, cli_quarantine, cli_staff
from controller.settings import Settings, SettingsError, load_settings, sample_toml
from controller.store import StoreOpenError, run_with_store
from espace.clock import clock_from_spec
from espace.logs import setup_logging

log = logging.getLogger("controller.cli")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("host", "port", "database"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(args.config, **overrides)


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", "-c", help="site configuration (TOML); defaults: the Brussels floor")
    sp.add_argument("--database", help="SQLite store path (overrides the configuration)")


def cmd_serve(args: argparse.Namespace) -> int:
    from controller.app import create_app
    from controller.store import check_path

    settings = _settings(args)
    clock = clock_from_spec(args.clock, settings.tz)
    try:
        check_path(settings.database, create=args.create)  # before anything listens: one line, and out
    except StoreOpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, clock, create_store=args.create)
    app.on_startup.append(_settle)  # after the store has opened and the floor is loaded
    ssl_ctx = None
    if settings.tls_cert:
        import ssl

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    where = f"http{'s' if ssl_ctx else ''}://{settings.host}:{settings.port}/"

    async def _serving(app: web.Application) -> None:  # once the store is open: a refused store prints only its error
        print(f"espace-controller: serving on {where}", flush=True)

    app.on_startup.append(_serving)
    try:
        web.run_app(app, host=settings.host, port=settings.port, ssl_context=ssl_ctx, print=None, access_log=None, shutdown_timeout=2)
    except StoreOpenError as exc:  # found only on opening: a newer schema, a store another controller holds
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _settle(app: web.Application) -> None:
    """Freeze what start-up built (settings, floor, modules): full collections stop rescanning it."""
    from espace.gcwatch import settle

    log.info("start-up objects frozen out of the collector's scans: %d", settle())


def cmd_station_add(args: argparse.Namespace) -> int:
    import time

    from controller import stations

    settings = _settings(args)
    spec = settings.station(args.station)
    if spec is None:
        print(f"error: {args.station} is not a station of this site's configuration", file=sys.stderr)
        return 2
    token = run_with_store(settings.database, lambda store: store.write(lambda db: stations.set_token(db, spec, time.time())))
    print(token)
    return 0


def cmd_station_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from controller.stations import LOST_SQL

    rows = run_with_store(
        settings.database,
        lambda store: store.read(lambda db: list(db.query(f"SELECT id, kind, status, last_seq, locked_reason, ({LOST_SQL}) AS lost FROM stations ORDER BY id"))),
    )
    for r in rows:
        lost = f"lost={r['lost']} " if r["lost"] else ""
        print(f"{r['id']:8} {r['kind']:7} {r['status']:9} seq={r['last_seq']:<6} {lost}{r['locked_reason'] or ''}")
    return 0


def cmd_station_pending(args: argparse.Namespace) -> int:
    from controller import enrolment

    rows = run_with_store(_settings(args).database, lambda store: store.read(enrolment.pending))
    if not rows:
        print("no enrolment requests")
    for r in rows:
        what = "RE-ENROLMENT of a station that has a live token" if r["reenrol"] else "new station"
        print(f"{r['station']:8} {r['status']:9} code {r['fingerprint']}  {what}; host={r['hostname']} platform={r['platform']} mac={r['mac']} from {r['peer']}")
    return 0


_REFUSED = {
    "no_code": "an approval names the code the station shows: --code XXXX-XXXX-XXXX-XXXX",
    "bad_code": "not a station code (16 characters, e.g. K7QM-2P9X-D4TB-8WZE)",
    "no_request": "no pending request from {station} with that code (see 'station pending')",
    "ambiguous": "two requests for {station} show the same code: reject them and let the station ask again",
    "confirm_reenrol": "{station} holds a live token: this is a re-enrolment; add --reenrol to confirm (the connected station is replaced)",
    "already_approved": "another request of {station} is approved and not yet collected; reject it first",
}


def _decide(args: argparse.Namespace, approve: bool) -> int:
    import getpass
    import time

    from controller import enrolment

    actor = f"cli:{getpass.getuser()}"
    reenrol = bool(getattr(args, "reenrol", False))
    result = run_with_store(
        _settings(args).database,
        lambda store: store.write(lambda db: enrolment.decide(db, args.station, approve, actor, time.time(), code=args.code, reenrol=reenrol)),
    )
    outcome = result["outcome"]
    if outcome in _REFUSED:
        print(f"error: {_REFUSED[outcome].format(station=args.station)}", file=sys.stderr)
        return 1
    codes = ", ".join(r["fingerprint"] for r in result["requests"])
    print(f"{args.station} ({codes}): {'approved: it receives its token when it next connects' if approve else 'rejected'}")
    return 0


def cmd_station_approve(args: argparse.Namespace) -> int:
    return _decide(args, True)


def cmd_station_reject(args: argparse.Namespace) -> int:
    return _decide(args, False)


def cmd_station_revoke(args: argparse.Namespace) -> int:
    from controller import enrolment

    done = run_with_store(_settings(args).database, lambda store: store.write(lambda db: enrolment.revoke(db, args.station)))
    if not done:
        print(f"error: no station {args.station}", file=sys.stderr)
        return 1
    print(f"{args.station}: token revoked; its connection is dropped and it must enrol again")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """An online backup: SQLite's backup API copies a consistent snapshot while the controller runs.

    The copy goes to a temporary file beside the destination, is checked
    (``PRAGMA quick_check``) and only then renamed into place: a backup killed
    midway leaves no file that looks like a backup.
    """
    import os

    from controller.store import check_path
    from controller.store.store import create_private

    settings = _settings(args)
    source, dest_path = Path(settings.database), Path(args.dest)
    if not source.is_file():
        print(f"error: there is no store at {source} (check --database or the configuration); nothing backed up", file=sys.stderr)
        return 2
    try:
        check_path(source, create=False)
    except StoreOpenError as exc:
        if "read-only" not in str(exc):  # a read-only store can still be read
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if dest_path.exists():
        print(f"error: {dest_path} exists; choose a new file", file=sys.stderr)
        return 2
    tmp = dest_path.with_name(f".{dest_path.name}.partial")
    tmp.unlink(missing_ok=True)
    uri = f"{source.resolve().as_uri()}?mode=ro"  # never creates a store
    if not os.access(source.parent, os.W_OK):  # a read-only mount: nobody can write it, and SQLite cannot make its -shm there
        uri += "&immutable=1"
    src = sqlite3.connect(uri, uri=True)
    try:
        create_private(tmp)  # 0600 whatever the umask: a backup holds what the store holds
        dest = sqlite3.connect(tmp)
        try:
            src.backup(dest)
            (check,) = dest.execute("PRAGMA quick_check").fetchone()
        finally:
            dest.close()
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy does not check: {check}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest_path)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        print(f"error: backup of {source} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        src.close()
    print(f"backed up {source} to {dest_path} (checked)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Put a backup in place of the store (the controller stopped); see controller/store/restore.py."""
    from controller.store.restore import RestoreError, restore

    settings = _settings(args)
    try:
        done = restore(args.backup, settings.database)
    except RestoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for old in done.moved_aside:
        print(f"kept the old file as {old}")
    print(f"restored {done.store} from {args.backup}: {done.events} events, {done.stations} stations")
    print("start the controller: each station sends again what it still holds; what none holds is recorded as a gap")
    return 0


def cmd_tls_init(args: argparse.Namespace) -> int:
    from controller.tls import make_self_signed

    cert, key = Path(args.cert), Path(args.key)
    if (cert.exists() or key.exists()) and not args.force:
        print(f"error: {cert} or {key} exists (use --force to replace; agents pinning the old one must be updated)", file=sys.stderr)
        return 2
    fp = make_self_signed(cert, key, args.name or ["espace-controller", "localhost", "127.0.0.1"])
    print(f"certificate: {cert}\nkey: {key} (mode 0600)\nfingerprint (sha256): {fp}")
    print("set tls_cert and tls_key in the site configuration; agents pin the fingerprint (zeroconf TXT or [controller] tls_fingerprint)")
    return 0


def cmd_sample_config(args: argparse.Namespace) -> int:
    print(sample_toml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="espace-controller", description="The Espace controller: sessions, rules, the floor, the store.")
    ap.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    ap.add_argument("--log-format", choices=("text", "json"), default="text", help="text, or JSON lines for a log collector")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser("serve", help="run the controller (agents' WebSocket, dashboard, API)")
    _common(sp)
    sp.add_argument("--host", help="address to listen on (default from configuration: 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default 8080)")
    sp.add_argument("--clock", default=None, help="virtual clock, e.g. 2026-11-19T09:00x60 (tests and demos); default real time")
    sp.add_argument("--create", action="store_true", help="make the store's folder if it does not exist (a new site)")
    sp.set_defaults(func=cmd_serve)

    st = sub.add_parser("station", help="stations and their tokens")
    stsub = st.add_subparsers(dest="station_command", required=True, metavar="ACTION")
    sp = stsub.add_parser("add", help="give a configured station a new token (printed once)")
    _common(sp)
    sp.add_argument("station", help="station id, e.g. PC-01")
    sp.set_defaults(func=cmd_station_add)
    sp = stsub.add_parser("list", help="list stations, their status and last event sequence")
    _common(sp)
    sp.set_defaults(func=cmd_station_list)

    for name, func, text in (
        ("pending", cmd_station_pending, "list enrolment requests from stations with no token"),
        ("approve", cmd_station_approve, "approve a station's enrolment request"),
        ("reject", cmd_station_reject, "reject a station's enrolment request"),
        ("revoke", cmd_station_revoke, "revoke a station's token at once"),
    ):
        sp = stsub.add_parser(name, help=text)
        _common(sp)
        if name != "pending":
            sp.add_argument("station", help="station id, e.g. PC-01")
        if name == "approve":
            sp.add_argument("--code", required=True, help="the code the station shows (as 'station pending' lists it)")
            sp.add_argument("--reenrol", action="store_true", help="confirm: the station holds a live token and is to be replaced")
        if name == "reject":
            sp.add_argument("--code", default=None, help="reject only the request with this code (default: every pending one)")
        sp.set_defaults(func=func)

    sp = sub.add_parser("backup", help="online backup of the store to a new file")
    _common(sp)
    sp.add_argument("dest", help="path of the backup file to create")
    sp.set_defaults(func=cmd_backup)

    sp = sub.add_parser("restore", help="put a backup in place of the store (stop the controller first)")
    _common(sp)
    sp.add_argument("backup", help="the backup file to restore (from 'backup')")
    sp.set_defaults(func=cmd_restore)

    sp = sub.add_parser("tls", help="the controller's own TLS certificate")
    tsub = sp.add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    sp = tsub.add_parser("init", help="make a self-signed certificate and print its fingerprint for the agents to pin")
    sp.add_argument("--cert", default="var/tls/controller.pem", help="certificate file to write")
    sp.add_argument("--key", default="var/tls/controller.key", help="private key file to write (mode 0600)")
    sp.add_argument("--name", action="append", help="host name or IP in the certificate (repeatable)")
    sp.add_argument("--force", action="store_true", help="replace existing files")
    sp.set_defaults(func=cmd_tls_init)

    sp = sub.add_parser("sample-config", help="print a commented site configuration with every setting")
    sp.set_defaults(func=cmd_sample_config)

    cli_staff.add_parser(sub)
    cli_export.add_parser(sub)
    cli_quarantine.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """The parsed command, with its errors as one line each (tests call it without main's logging set-up)."""
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    except StoreOpenError as exc:  # not a store to open: one line, never a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
