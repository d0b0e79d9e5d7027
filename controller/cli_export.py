"""``espace-controller export``: the back office's figures as CSV or XLSX from the command line.

Hooked into :mod:`controller.cli` by ``add_parser(sub)``. It opens the store read-only
(SQLite ``mode=ro``), so it runs safely while the controller is serving::

    espace-controller export --from 2026-01-01 --to 2026-12-31 --what annual --format xlsx
    espace-controller export --from 2026-11-01 --to 2026-11-30 --what daily --kind pc -o nov.csv
    espace-controller export --from 2026-01-01 --to 2026-12-31 --what daily --lang fr --dialect be
    espace-controller export --from 2026-01-01 --to 2026-12-31 --what report --lang nl

``--lang`` writes headers, weekdays, end reasons and figure names in French, Dutch or English
(without it: English codes, for scripts); ``--dialect be`` writes CSV as Excel set up for
Belgium opens it (``;``, decimal comma). ``--what report`` is the annual report workbook
(XLSX, one sheet per section; French unless ``--lang`` says otherwise).

Without ``--output`` the file is ``espace-<what>-<from>-<to>[-<kind>].<format>`` in the
current directory; ``--output -`` writes to standard output.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import date
from pathlib import Path

from controller.reports import FORMATS, KINDS, WHATS, export
from controller.reports.annual_report import write_annual_report
from controller.reports.labels import DIALECTS
from controller.settings import load_settings
from controller.station_rules import hours_of


def export_filename(what: str, lo: date, hi: date, kind: str | None, fmt: str) -> str:
    """``espace-<what>-<from>-<to>[-<kind>].<format>``: the same name as the page's downloads."""
    return f"espace-{what}-{lo.isoformat()}-{hi.isoformat()}{'-' + kind if kind else ''}.{fmt}"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """The store, read-only: the controller may keep writing while this reads."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no store at {p}")
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def cmd_export(args: argparse.Namespace) -> int:
    overrides = {"database": args.database} if args.database else {}
    settings = load_settings(args.config, **overrides)
    if args.from_date > args.to_date:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    try:
        conn = open_read_only(settings.database)
    except (FileNotFoundError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.what == "report":
        args.format = "xlsx"
    name = args.output or export_filename(
        args.what, args.from_date, args.to_date, args.kind, args.format
    )
    try:
        if args.what == "report":
            with open(sys.stdout.fileno(), "wb", closefd=False) if name == "-" else open(name, "wb") as out:
                rows = write_annual_report(
                    conn, args.from_date, args.to_date, out, settings.tz, args.lang or "fr", settings.site_name,
                    hours_of(settings),
                )
        elif name == "-":
            rows = export(
                conn,
                args.what,
                args.from_date,
                args.to_date,
                args.format,
                sys.stdout.buffer,
                settings.tz,
                args.kind,
                args.lang,
                args.dialect,
            )
            sys.stdout.buffer.flush()
        else:
            rows = export(
                conn,
                args.what,
                args.from_date,
                args.to_date,
                args.format,
                Path(name),
                settings.tz,
                args.kind,
                args.lang,
                args.dialect,
            )
    except (ValueError, sqlite3.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    where = "standard output" if name == "-" else name
    unit = "sheets" if args.what == "report" else "rows"
    print(f"export {args.what}: {rows} {unit} written to {where}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``export`` to the ``espace-controller`` sub-commands."""
    sp = sub.add_parser(
        "export",
        help="write report figures (sessions, prints, daily, hourly, annual) as CSV or XLSX; read-only",
        description="Export the back office's figures for a range of local dates. "
        "Rows are aggregates or single sessions, never a person.",
    )
    sp.add_argument(
        "--config", "-c", help="site configuration (TOML); defaults: the Brussels floor"
    )
    sp.add_argument("--database", help="SQLite store path (overrides the configuration)")
    sp.add_argument(
        "--from",
        dest="from_date",
        type=_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="first local date, included",
    )
    sp.add_argument(
        "--to",
        dest="to_date",
        type=_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="last local date, included",
    )
    sp.add_argument(
        "--what",
        choices=(*WHATS, "report"),
        default="annual",
        help="which table (default: annual); report: the annual report workbook (XLSX)",
    )
    sp.add_argument(
        "--lang",
        choices=("fr", "nl", "en"),
        default=None,
        help="headers, weekdays and end reasons in this language (default: English codes)",
    )
    sp.add_argument(
        "--dialect",
        choices=tuple(DIALECTS),
        default="comma",
        help="CSV: comma (',' and '.'), or be (';' and a decimal comma, for Excel in Belgium)",
    )
    sp.add_argument("--format", choices=FORMATS, default="csv", help="file format (default: csv)")
    sp.add_argument(
        "--kind", choices=KINDS, default=None, help="only PCs or only tablets (default: both)"
    )
    sp.add_argument(
        "--output",
        "-o",
        default=None,
        help="file to write ('-': standard output); default: a name from the arguments",
    )
    sp.set_defaults(func=cmd_export)
