"""Printers on the floor, and print accounting from the print server.

``setup(app)`` adds (called once by ``create_app``):

- a printer poller (``cleanup_ctx``) for every configured printer with an
  ``ipp://`` or ``ipps://`` uri: each status change is stored in the ``printers``
  table and published to the dashboards as ``{"type": "printer", ...}``; a
  paper or jam problem (:func:`controller.printers.needs_steward`) raises a
  steward alert like a help request does: an open ``help_requests`` row of kind
  ``printer`` (station = the printer id) and ``{"type": "alert", ...}``;
- when the site names the print server's CUPS ``page_log``
  (``print_server_log``), a tailer that reads it every few seconds of the
  injected clock, attributes each job to a station by its originating host
  (the stations' enrolled hostnames, plus ``print_server_hosts``), matches it
  to the session running there and counts it once (``server/<queue>#<job>``);
- ``GET /api/printers``: the current statuses, as JSON.

Which printers the server counts: ``PrinterSpec.via_server``. Their queue
names (the spec's id and the ``/printers/<name>`` of its uri) go to the store
writer's ``print_server_queues`` table, so that the agents' records for them
are ignored for counting (:func:`controller.store.apply.print_job_key`).

Settings: ``printer_poll_seconds``, ``print_server_log``, ``print_server_hosts``
and ``PrinterSpec.via_server`` (``controller/settings.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlite_utils
from aiohttp import web

from controller.printers import (
    HostMap,
    PrinterConfig,
    PrinterPoller,
    PrinterStatus,
    ServerPrintJob,
    ServerPrintLog,
    match_session,
    needs_steward,
)
from controller.printers.ipp import PollFn
from controller.settings import PrinterSpec, Settings
from controller.store.apply import SERVER_QUEUES_DDL
from controller.web import keys
from espace import protocol as p

log = logging.getLogger(__name__)

SERVER = "server"  # the scheduler name in the keys of jobs read from the server's log
SERVER_LOG_SECONDS = 5.0  # how often the server's page_log is read (clock seconds)
LATE_JOB_GRACE_S = 120.0  # a job the printer finishes just after its session still belongs to it


@dataclass(slots=True)
class Printing:
    """The app's printing state: latest statuses, and the IPP seam (tests pass a fake ``poll``)."""

    statuses: dict[str, PrinterStatus] = field(default_factory=dict)
    poll: PollFn | None = None  # None: real IPP
    poller: PrinterPoller | None = None
    server_log: ServerPrintLog | None = None
    jobs_counted: int = 0


PRINTING = keys.PRINTING  # declared in keys.py; this name is kept for the modules that import it from here


# ---------------------------------------------------------------- configuration


def ipp_config(spec: PrinterSpec) -> PrinterConfig | None:
    """``ipp://host[:port]/path`` (or ``ipps://``) to a poller configuration; None if not IPP."""
    parts = urlsplit(spec.uri.strip())
    if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
        return None
    tls = parts.scheme == "ipps"
    try:
        port = parts.port or 631
    except ValueError:
        log.warning("printer %s: bad port in %s", spec.id, spec.uri)
        return None
    return PrinterConfig(
        id=spec.id, host=parts.hostname, port=port, base_path=parts.path or "/ipp/print", tls=tls
    )


def queue_name(spec: PrinterSpec) -> str:
    """The CUPS queue a uri names (``…/printers/<name>``), or ""."""
    path = urlsplit(spec.uri.strip()).path
    head, _, name = path.rstrip("/").rpartition("/")
    return unquote(name) if head.endswith("/printers") else ""


def server_queue_names(specs: Iterable[PrinterSpec]) -> set[str]:
    """Case-folded queue names whose jobs the print server's log counts."""
    names: set[str] = set()
    for spec in specs:
        if spec.via_server:
            names.add(spec.id.strip().casefold())
            if queue_name(spec):
                names.add(queue_name(spec).strip().casefold())
    return names


def printer_id_for_queue(queue: str, specs: Iterable[PrinterSpec]) -> str:
    """The site's printer id for a server queue name (so that reports show one name per printer)."""
    q = queue.strip().casefold()
    for spec in specs:
        if q in (spec.id.strip().casefold(), queue_name(spec).strip().casefold()):
            return spec.id
    return queue


# ---------------------------------------------------------------- printer status


def status_message(
    printer_id: str, status: PrinterStatus, spec: PrinterSpec | None
) -> dict[str, Any]:
    return {
        "id": printer_id,
        "state": status.state,
        "reasons": list(status.reasons),
        "message": status.message,
        "markers": status.as_dict()["markers"],
        "x": spec.x if spec else 0,
        "y": spec.y if spec else 0,
    }


def _store_status(
    db: sqlite_utils.Database, printer_id: str, uri: str, status: PrinterStatus, now: float
) -> None:
    db.execute(
        "INSERT INTO printers (id, uri, state, reasons, markers, updated) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET uri = excluded.uri, state = excluded.state, "
        "reasons = excluded.reasons, markers = excluded.markers, updated = excluded.updated",
        [
            printer_id,
            uri,
            status.state,
            json.dumps(list(status.reasons)),
            json.dumps(status.as_dict()["markers"]),
            now,
        ],
    )


def _raise_alert(db: sqlite_utils.Database, printer_id: str, now: float) -> str | None:
    """An open help request of kind ``printer`` for this printer; None when one is open already."""
    open_ = db.execute(
        "SELECT id FROM help_requests WHERE station = ? AND kind = 'printer' AND done IS NULL AND cancelled IS NULL",
        [printer_id],
    ).fetchone()
    if open_ is not None:
        return None
    help_id = p.new_id()
    db.execute(
        "INSERT INTO help_requests (id, station, session_id, kind, requested) VALUES (?, ?, NULL, 'printer', ?)",
        [help_id, printer_id, now],
    )
    return help_id


def _close_alerts(db: sqlite_utils.Database, printer_id: str, now: float) -> list[str]:
    """The printer works again: its open alerts are done (whoever took one keeps the credit)."""
    ids = [
        r[0]
        for r in db.execute(
            "SELECT id FROM help_requests WHERE station = ? AND kind = 'printer' AND done IS NULL AND cancelled IS NULL",
            [printer_id],
        )
    ]
    for help_id in ids:
        db.execute("UPDATE help_requests SET done = ? WHERE id = ?", [now, help_id])
    return ids


async def on_printer_change(app: web.Application, printer_id: str, status: PrinterStatus) -> None:
    """Store the new status, publish it, and alert the stewards on a paper or jam problem;
    when the problem is gone, the alert closes by itself."""
    printing, store, floor, clock = app[PRINTING], app[keys.STORE], app[keys.FLOOR], app[keys.CLOCK]
    specs = {s.id: s for s in app[keys.SETTINGS].printers}
    spec = specs.get(printer_id)
    old = printing.statuses.get(printer_id)
    printing.statuses[printer_id] = status
    now = clock.now()
    alert = needs_steward(old, status)

    recovered = status.state in ("ok", "low")  # printing again; "offline" says nothing about the jam

    def write(db: sqlite_utils.Database) -> tuple[str | None, list[str]]:
        _store_status(db, printer_id, spec.uri if spec else "", status, now)
        closed = _close_alerts(db, printer_id, now) if recovered else []
        return (_raise_alert(db, printer_id, now) if alert else None), closed

    help_id, closed = await store.write(write)
    floor.publish(
        {"type": "printer", "now": now, "printer": status_message(printer_id, status, spec)}
    )
    for done_id in closed:
        log.info("printer %s works again (%s): alert %s closed", printer_id, status.state, done_id)
        floor.publish({"type": "help", "now": now, "help_id": done_id, "state": "done"})
    if help_id is not None:
        log.warning("printer %s needs a steward: %s %s", printer_id, status.state, status.message)
        floor.publish(
            {
                "type": "alert",
                "now": now,
                "alert": {
                    "id": help_id,
                    "kind": "printer",
                    "station": printer_id,
                    "printer": printer_id,
                    "state": status.state,
                    "message": status.message,
                    "requested": now,
                },
            }
        )


def _known_statuses(db: sqlite_utils.Database) -> dict[str, PrinterStatus]:
    """What the store last knew, so that a restart does not raise the same alert again."""
    out: dict[str, PrinterStatus] = {}
    for r in db.query("SELECT id, state, reasons FROM printers WHERE updated IS NOT NULL"):
        out[r["id"]] = PrinterStatus(
            state=r["state"], reasons=tuple(json.loads(r["reasons"] or "[]"))
        )
    return out


# ---------------------------------------------------------------- the print server's log


def station_hosts(db: sqlite_utils.Database, extra: Mapping[str, str]) -> dict[str, str]:
    """``{hostname or address: station}``: enrolled hostnames and addresses, then the site's own map."""
    mapping: dict[str, str] = {}
    for r in db.execute(
        "SELECT id, hostname FROM stations WHERE status = 'approved' AND hostname != ''"
    ):
        mapping[r[1]] = r[0]
    for r in db.execute("SELECT station, hostname, peer FROM enrolments WHERE status = 'approved'"):
        for host in (r[1], r[2]):
            if host:
                mapping.setdefault(host, r[0])
    mapping.update(extra)
    return mapping


def record_server_jobs(
    db: sqlite_utils.Database, jobs: Iterable[ServerPrintJob], specs: Iterable[PrinterSpec]
) -> list[tuple[str | None, str | None, int]]:
    """Insert each job once (its key is unique) on the session running on its station then;
    returns ``(station, session, pages)`` of the jobs counted now (not those seen before)."""
    specs = list(specs)
    counted: list[tuple[str | None, str | None, int]] = []
    for job in jobs:
        r = job.record
        session_id = None
        if job.station is not None:
            rows = db.execute(
                'SELECT id, station, start, "end" FROM sessions WHERE station = ? AND start <= ? '
                'AND ("end" IS NULL OR "end" > ?)',
                [job.station, r.at, r.at - LATE_JOB_GRACE_S],
            ).fetchall()
            spans = [{"id": x[0], "station": x[1], "start": x[2], "end": x[3]} for x in rows]
            session_id = match_session(r.at, job.station, spans, grace=LATE_JOB_GRACE_S)
        cur = db.execute(
            "INSERT OR IGNORE INTO print_jobs (id, job_key, station, session_id, printer, pages, colour_pages, at, source)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [
                p.new_id(),
                job.key,
                job.station,
                session_id,
                printer_id_for_queue(r.printer, specs),
                r.pages,
                r.colour_pages,
                r.at,
                "server",
            ],
        )
        if not cur.rowcount:
            continue
        if session_id is not None:
            db.execute(
                "UPDATE sessions SET pages_bw = pages_bw + ?, pages_colour = pages_colour + ? WHERE id = ?",
                [r.pages - r.colour_pages, r.colour_pages, session_id],
            )
        counted.append((job.station, session_id, r.pages))
    return counted


async def read_server_log(app: web.Application) -> int:
    """Read the server's page_log once and count its new jobs; returns how many were counted."""
    printing, store, settings, floor = (
        app[PRINTING],
        app[keys.STORE],
        app[keys.SETTINGS],
        app[keys.FLOOR],
    )
    slog = printing.server_log
    if slog is None:
        return 0
    slog.hosts = HostMap(
        await store.read(
            lambda db: station_hosts(db, settings.print_server_hosts)
        )
    )
    jobs = await asyncio.get_running_loop().run_in_executor(None, slog.poll)
    if not jobs:
        return 0
    counted = await store.write(lambda db: record_server_jobs(db, jobs, settings.printers))
    for station, session_id, pages in counted:
        live = floor.live.get(station) if station else None
        if live is not None and live.session is not None and live.session.session_id == session_id:
            live.pages += pages
            floor.changed(station)  # type: ignore[arg-type]
    printing.jobs_counted += len(counted)
    if counted:
        log.info("print server: %d new job(s) counted", len(counted))
    return len(counted)


# ---------------------------------------------------------------- lifetime and routes


async def _printing_ctx(app: web.Application) -> AsyncIterator[None]:
    settings: Settings = app[keys.SETTINGS]
    printing, store, clock = app[PRINTING], app[keys.STORE], app[keys.CLOCK]
    queues = sorted(server_queue_names(settings.printers))

    def prepare(db: sqlite_utils.Database) -> dict[str, PrinterStatus]:
        db.execute(SERVER_QUEUES_DDL)
        db.execute("DELETE FROM temp.print_server_queues")
        db.conn.executemany(
            "INSERT OR IGNORE INTO temp.print_server_queues (name) VALUES (?)",
            [(q,) for q in queues],
        )
        for spec in settings.printers:
            db.execute(
                "INSERT OR IGNORE INTO printers (id, uri) VALUES (?, ?)", [spec.id, spec.uri]
            )
            db.execute("UPDATE printers SET uri = ? WHERE id = ?", [spec.uri, spec.id])
        return _known_statuses(db)

    printing.statuses.update(await store.write(prepare))
    configs = [c for c in (ipp_config(s) for s in settings.printers) if c is not None]
    if configs:
        interval = float(settings.printer_poll_seconds)

        async def changed(printer_id: str, status: PrinterStatus) -> None:
            await on_printer_change(app, printer_id, status)

        seam = {"poll": printing.poll} if printing.poll is not None else {}
        printing.poller = PrinterPoller(configs, changed, clock=clock, interval=interval, **seam)
        printing.poller.statuses.update(
            {k: v for k, v in printing.statuses.items() if k in {c.id for c in configs}}
        )
        await printing.poller.start()
    tail: asyncio.Task[None] | None = None
    path = settings.print_server_log
    if path:
        # from the top of the file: the unique keys make a re-read after a restart harmless
        printing.server_log = ServerPrintLog(path, {}, scheduler=SERVER)

        async def tail_loop() -> None:
            while True:
                try:
                    await read_server_log(app)
                except Exception:
                    log.exception("print server log %s: read failed", path)
                await clock.sleep(SERVER_LOG_SECONDS)

        tail = asyncio.create_task(tail_loop(), name="print-server-log")
    try:
        yield
    finally:
        if tail is not None:
            tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tail
        if printing.server_log is not None:
            printing.server_log.close()
        if printing.poller is not None:
            await printing.poller.stop()


async def printers_json(request: web.Request) -> web.Response:
    """Every configured printer with its latest status (offline until first polled)."""
    app = request.app
    statuses = app[PRINTING].statuses
    out = []
    for spec in app[keys.SETTINGS].printers:
        status = statuses.get(spec.id) or PrinterStatus(
            state="offline", message="not polled yet" if spec.uri else "no uri"
        )
        item = status_message(spec.id, status, spec)
        item["via_server"] = spec.via_server
        out.append(item)
    return web.json_response({"now": app[keys.CLOCK].now(), "printers": out})


def setup(app: web.Application) -> None:
    """Add the printer poller, the print-server log and their routes to ``app`` (called once by ``create_app``)."""
    app.cleanup_ctx.append(_printing_ctx)
    app.router.add_get("/api/printers", printers_json)
