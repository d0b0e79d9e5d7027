"""Applying an agent's event to the store: idempotent, in order, all or nothing.

:func:`apply_event` runs inside the writer's transaction. A station's events
are applied strictly in sequence (per incarnation of its agent, see
:func:`controller.stations.begin_link`): every number is either committed,
quarantined or consumed by a rejection, never skipped, so an event whose
commit failed can always be replayed and nothing behind it overtakes it. It
returns

* ``"new"``: applied and recorded;
* ``"duplicate"``: that id is committed already (a replay): acknowledged again, applied once;
* ``"quarantined: <why>"``: its instant is implausible (weeks old, in the future, a session that
  cannot be): kept in the ``quarantine`` table, not counted, until an admin accepts or discards it
  (:mod:`controller.quarantine`); acknowledged, since it is safely stored;
* ``"rejected: <why>"``: well-formed but wrong for this station (another station's session...):
  nothing of it is stored but its sequence number, consumed so that the station's later events go on;

or raises :class:`EventRejected` when the event cannot be taken *now*: a sequence from the past
(nothing stored), or a gap (``retry``: the station must send the missing ones first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from controller.printers.server_log import accounted_by_server, job_key
from espace import protocol as p

log = logging.getLogger(__name__)


MAX_SESSION_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class Plausible:
    """How far an event's instant may be from the controller's clock before it waits in quarantine."""

    max_age_s: float = 31 * 86400  # settings.quarantine_after_days: a month late (a long outage) is counted at once
    future_s: float = 5 * 60  # settings.future_tolerance_minutes: clocks differ a little, never by hours

    @classmethod
    def from_settings(cls, settings: Any) -> Plausible:
        return cls(settings.quarantine_after_days * 86400.0, settings.future_tolerance_minutes * 60.0)


class Quarantined(ValueError):
    """The event is kept aside, not counted, until an admin decides."""


class EventRejected(ValueError):
    def __init__(self, reason: str, *, retry: bool = False) -> None:
        super().__init__(reason)
        self.retry = retry


def _check(ev: p.Event, received: float, limits: Plausible) -> None:
    """Raise :class:`Quarantined` when the event's instants are not plausible."""
    if ev.at < received - limits.max_age_s:
        raise Quarantined(f"instant {ev.at:.0f} is {(received - ev.at) / 86400:.0f} days before the controller's clock ({received:.0f})")
    if ev.at > received + limits.future_s:
        raise Quarantined(f"instant {ev.at:.0f} is {(ev.at - received) / 60:.0f} minutes after the controller's clock ({received:.0f})")
    if isinstance(ev, p.SessionStarted):
        if ev.start > received + limits.future_s:
            raise Quarantined(f"session starts {(ev.start - received) / 60:.0f} minutes in the future")
        if not (ev.start <= ev.end <= ev.start + MAX_SESSION_S and abs(ev.start - ev.at) <= MAX_SESSION_S):
            raise Quarantined("session start and end are not a plausible session")
    if isinstance(ev, p.SessionExtended) and abs(ev.end - ev.at) > MAX_SESSION_S:
        raise Quarantined("extension end is not plausible")


def apply_event(
    db: sqlite_utils.Database, station: str, ev: p.Event, received: float, incarnation: str = "", limits: Plausible = Plausible()
) -> str:
    conn = db.conn
    row = conn.execute("SELECT station FROM events WHERE id = ? UNION ALL SELECT station FROM quarantine WHERE id = ?", (ev.id, ev.id)).fetchone()
    if row is not None:
        if row[0] != station:
            raise EventRejected(f"event id {ev.id} belongs to another station")
        return "duplicate"
    st = conn.execute("SELECT last_seq, kind, incarnation FROM stations WHERE id = ?", (station,)).fetchone()
    if st is None:
        raise EventRejected(f"unknown station {station}")
    last_seq, kind, current = st
    if current != incarnation:  # another install of this station connected since: this link is on its way out
        raise EventRejected(f"incarnation {incarnation!r} is not the station's current one", retry=True)
    if ev.seq <= last_seq:
        raise EventRejected(f"sequence {ev.seq} is from the past (last committed: {last_seq})")
    if ev.seq > last_seq + 1:
        raise EventRejected(f"sequence {ev.seq} skips {last_seq + 1}: send the earlier events first", retry=True)
    session_id = getattr(ev, "session_id", None) or _waiting_help_session(conn, station, ev)
    conn.execute("SAVEPOINT ev")
    try:
        _check(ev, received, limits)
        if session_id is not None and waiting_session(conn, station, session_id):
            raise Quarantined(f"its session {session_id} waits in quarantine")
        apply_checked(conn, station, kind, ev, received, incarnation)
    except Quarantined as exc:
        conn.execute("ROLLBACK TO ev")
        conn.execute("RELEASE ev")
        conn.execute(
            "INSERT INTO quarantine (id, station, incarnation, seq, type, at, received, session_id, reason, body)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (ev.id, station, incarnation, ev.seq, _tag(ev), ev.at, received, session_id, str(exc)[:300], p.encode(ev)),
        )
        conn.execute("UPDATE stations SET last_seq = ?, last_seen = ? WHERE id = ?", (ev.seq, received, station))
        return f"quarantined: {exc}"
    except EventRejected as exc:
        conn.execute("ROLLBACK TO ev")
        conn.execute("RELEASE ev")
        conn.execute("UPDATE stations SET last_seq = ?, last_seen = ? WHERE id = ?", (ev.seq, received, station))
        return f"rejected: {exc}"
    conn.execute("RELEASE ev")
    conn.execute("UPDATE stations SET last_seq = ?, last_seen = ? WHERE id = ?", (ev.seq, received, station))
    return "new"


def _tag(ev: p.Event) -> str:
    return type(ev).__struct_config__.tag  # type: ignore[return-value]


def waiting_session(conn, station: str, session_id: str) -> bool:
    """A session whose start waits in quarantine: its other events wait with it (one decision for all)."""
    return conn.execute(
        "SELECT 1 FROM quarantine WHERE station = ? AND session_id = ? AND type = 'session_started' AND status = 'waiting'",
        (station, session_id),
    ).fetchone() is not None


def _waiting_help_session(conn, station: str, ev: p.Event) -> str | None:
    """A help cancel whose request waits in quarantine belongs with that request's session (decided together)."""
    if not isinstance(ev, p.HelpCancelled):
        return None
    row = conn.execute(
        "SELECT session_id FROM quarantine WHERE station = ? AND type = 'help_requested' AND status = 'waiting'"
        " AND json_extract(body, '$.help_id') = ?",
        (station, ev.help_id),
    ).fetchone()
    return row[0] if row else None


def apply_checked(conn, station: str, kind: str, ev: p.Event, received: float, incarnation: str) -> None:
    """Apply a plausible event and record it (raises :class:`EventRejected` when it is wrong for this station)."""
    session_id = getattr(ev, "session_id", None)
    if session_id is not None and not isinstance(ev, p.SessionStarted):
        owner = conn.execute("SELECT station FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if owner is not None and owner[0] != station:
            raise EventRejected(f"session {session_id} belongs to another station")
    _APPLY[type(ev)](conn, station, kind, ev)
    conn.execute(
        "INSERT INTO events (id, station, incarnation, seq, type, at, received, session_id, body) VALUES (?,?,?,?,?,?,?,?,?)",
        (ev.id, station, incarnation, ev.seq, _tag(ev), ev.at, received, session_id, p.encode(ev)),
    )


def _started(conn, station: str, kind: str, ev: p.SessionStarted) -> None:
    owner = conn.execute("SELECT station FROM sessions WHERE id = ?", (ev.session_id,)).fetchone()
    if owner is not None:
        raise EventRejected(f"session {ev.session_id} exists already")
    conn.execute(
        "INSERT INTO sessions (id, station, station_kind, start, planned_end, cause, origin, lang, offline)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (ev.session_id, station, kind, ev.start, ev.end, ev.cause, ev.origin, ev.lang, int(ev.offline)),
    )


def _warned(conn, station: str, kind: str, ev: p.SessionWarned) -> None:
    conn.execute("UPDATE sessions SET warnings = warnings + 1 WHERE id = ?", (ev.session_id,))


def _extended(conn, station: str, kind: str, ev: p.SessionExtended) -> None:
    conn.execute(
        "UPDATE sessions SET planned_end = ?, extensions = extensions + 1 WHERE id = ? AND end IS NULL",
        (ev.end, ev.session_id),
    )


def _ended(conn, station: str, kind: str, ev: p.SessionEnded) -> None:
    conn.execute(
        "UPDATE sessions SET end = ?, end_reason = ? WHERE id = ? AND end IS NULL",
        (ev.at, ev.reason, ev.session_id),
    )
    # a help request still open when the session ends is closed with it
    conn.execute(
        "UPDATE help_requests SET cancelled = ? WHERE station = ? AND done IS NULL AND cancelled IS NULL AND kind = 'visitor'",
        (ev.at, station),
    )


def _reset(conn, station: str, kind: str, ev: p.StationReset) -> None:
    if not ev.ok:
        conn.execute(
            "UPDATE stations SET locked_reason = ? WHERE id = ?",
            (f"reset failed: {ev.error}"[:200], station),
        )


_OPEN_HELP = "SELECT id FROM help_requests WHERE station = ? AND kind = 'visitor' AND done IS NULL AND cancelled IS NULL"


def _help(conn, station: str, kind: str, ev: p.HelpRequested) -> None:
    # one open request per station: a repeat (a flood from a stolen token) updates it, never adds a line
    open_ = conn.execute(_OPEN_HELP, (station,)).fetchone()
    if open_ is not None:
        if open_[0] != ev.help_id and ev.session_id is not None:
            conn.execute("UPDATE help_requests SET session_id = ? WHERE id = ?", (ev.session_id, open_[0]))
        return
    conn.execute(
        "INSERT OR IGNORE INTO help_requests (id, station, session_id, requested) VALUES (?,?,?,?)",
        (ev.help_id, station, ev.session_id, ev.at),
    )


def _help_cancelled(conn, station: str, kind: str, ev: p.HelpCancelled) -> None:
    known = conn.execute("SELECT 1 FROM help_requests WHERE id = ?", (ev.help_id,)).fetchone()
    if known is None:  # a repeat that was folded into the open request: cancelling it cancels that one
        conn.execute(
            "UPDATE help_requests SET cancelled = ? WHERE id = (" + _OPEN_HELP + ")", (ev.at, station)
        )
        return
    conn.execute(
        "UPDATE help_requests SET cancelled = ? WHERE id = ? AND station = ? AND done IS NULL",
        (ev.at, ev.help_id, station),
    )


# Print servers' queues: their jobs are counted from the server's page_log (by
# controller.web.printing, key "server/<queue>#<job>"), never from the agents. The names
# live in a TEMP table of the writer's connection, filled at start-up from the site's
# printers (PrinterSpec.via_server); without it every printer is counted from the agents.
SERVER_QUEUES_DDL = "CREATE TEMP TABLE IF NOT EXISTS print_server_queues (name TEXT PRIMARY KEY)"


def server_queues(conn) -> frozenset[str]:
    """The queue names (case-folded) counted from the print server, on this connection."""
    if conn.execute("SELECT 1 FROM sqlite_temp_master WHERE name = 'print_server_queues'").fetchone() is None:
        return frozenset()
    return frozenset(r[0] for r in conn.execute("SELECT name FROM temp.print_server_queues"))


def print_job_key(printer: str, job: str, station: str, server: Collection[str] = (), at: float | None = None) -> str | None:
    """``<station>/<printer>#<job>`` for a printer the station prints to directly; None for a
    print server's queue (``server``): the server's log counts that job, the agent's record
    would count it twice (a forwarding station queue gives the job another id on each
    scheduler, and every CUPS numbers from 1, so keys cannot be matched across schedulers)."""
    if accounted_by_server(printer, server):
        return None
    return job_key(printer, job, station, at=at)


def _print(conn, station: str, kind: str, ev: p.PrintJob) -> None:
    key = print_job_key(ev.printer, ev.job, station, server_queues(conn), at=ev.at)
    if key is None:
        return  # kept in the events trail only
    cur = conn.execute(
        "INSERT OR IGNORE INTO print_jobs (id, job_key, station, session_id, printer, pages, colour_pages, at, source)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (ev.id, key, station, ev.session_id, ev.printer, ev.pages, ev.colour_pages, ev.at, ev.source),
    )
    if cur.rowcount and ev.session_id:
        conn.execute(
            "UPDATE sessions SET pages_bw = pages_bw + ?, pages_colour = pages_colour + ? WHERE id = ?",
            (ev.pages - ev.colour_pages, ev.colour_pages, ev.session_id),
        )


def _escape(conn, station: str, kind: str, ev: p.EscapeAttempt) -> None:
    # anonymous (no session, no visitor): what, when, what the station did; kept for the reports
    # in a table of its own, since the events trail is pruned (controller.reports.retention)
    conn.execute(
        "INSERT OR IGNORE INTO escapes (id, station, station_kind, at, what, action) VALUES (?,?,?,?,?,?)",
        (ev.id, station, kind, ev.at, ev.what, ev.action),
    )


_APPLY: dict[type, Callable[[Any, str, str, Any], None]] = {
    p.SessionStarted: _started,
    p.SessionWarned: _warned,
    p.SessionExtended: _extended,
    p.SessionEnded: _ended,
    p.StationReset: _reset,
    p.HelpRequested: _help,
    p.HelpCancelled: _help_cancelled,
    p.PrintJob: _print,
    p.EscapeAttempt: _escape,
}
