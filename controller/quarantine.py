"""Events that wait for an admin: kept, not counted, until accepted or discarded.

An agent's event whose instant is implausible (weeks old after a PC stayed
unplugged, ahead of the controller's clock, a session that cannot be) goes to
the ``quarantine`` table with its reason (:mod:`controller.store.apply`); its
sequence number is consumed and the station acknowledged, so nothing behind
it waits and nothing is lost. Reports count only what is applied, so they
leave these events out. An admin (``espace-controller quarantine``, or the
dashboard's ``/admin/quarantine``) then:

* **accepts** one: it is applied as if it had just arrived (a session, a print
  job, a help request...) and recorded in the events trail under its own seq;
  the events of the same session that waited with it are accepted with it, in
  sequence order;
* **discards** one (and its session's): it stays in the table as discarded, for
  the audit trail, and is never counted.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller.store.apply import EventRejected, apply_checked, waiting_session
from espace import protocol as p

COLUMNS = "id, station, incarnation, seq, type, at, received, session_id, reason, status, decided, decided_by"


class NotWaiting(LookupError):
    """No waiting quarantined event has that id."""


def listing(db: sqlite_utils.Database, status: str | None = "waiting", limit: int = 1000) -> list[dict[str, Any]]:
    """Quarantined events (``status``: waiting, accepted, discarded, or None for all), by station and seq."""
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    return list(db.query(f"SELECT {COLUMNS} FROM quarantine {where} ORDER BY station, incarnation, seq LIMIT ?", [*args, limit]))


def count_waiting(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM quarantine WHERE status = 'waiting'").fetchone()[0]


def _group(conn, event_id: str) -> list[tuple]:
    """The waiting event ``event_id`` and, when its session's start waits too, all that session's waiting events."""
    row = conn.execute("SELECT station, session_id FROM quarantine WHERE id = ? AND status = 'waiting'", (event_id,)).fetchone()
    if row is None:
        raise NotWaiting(event_id)
    station, session_id = row
    args: tuple[Any, ...]
    if session_id is not None and waiting_session(conn, station, session_id):
        where, args = "station = ? AND session_id = ? AND status = 'waiting'", (station, session_id)
    else:
        where, args = "id = ?", (event_id,)
    return conn.execute(f"SELECT id, station, incarnation, received, body FROM quarantine WHERE {where} ORDER BY seq", args).fetchall()


def accept(db: sqlite_utils.Database, event_id: str, actor: str, now: float) -> list[str]:
    """Apply a waiting event (with its session's); returns the ids applied. Raises :class:`NotWaiting`,
    or :class:`EventRejected` when it is wrong for its station (nothing is applied then)."""
    conn = db.conn
    group = _group(conn, event_id)
    conn.execute("SAVEPOINT accept")
    try:
        for eid, station, incarnation, received, body in group:
            kind = conn.execute("SELECT kind FROM stations WHERE id = ?", (station,)).fetchone()
            if kind is None:
                raise EventRejected(f"unknown station {station}")
            ev = p.decode_from_agent(body)
            assert p.is_event(ev)
            apply_checked(conn, station, kind[0], ev, received, incarnation)
            conn.execute("UPDATE quarantine SET status = 'accepted', decided = ?, decided_by = ? WHERE id = ?", (now, actor, eid))
    except Exception:
        conn.execute("ROLLBACK TO accept")
        conn.execute("RELEASE accept")
        raise
    conn.execute("RELEASE accept")
    return [g[0] for g in group]


def discard(db: sqlite_utils.Database, event_id: str, actor: str, now: float) -> list[str]:
    """Set a waiting event (with its session's) aside for good; returns the ids. Raises :class:`NotWaiting`."""
    group = _group(db.conn, event_id)
    for g in group:
        db.conn.execute("UPDATE quarantine SET status = 'discarded', decided = ?, decided_by = ? WHERE id = ?", (now, actor, g[0]))
    return [g[0] for g in group]


def decide_all(db: sqlite_utils.Database, accept_them: bool, actor: str, now: float, station: str | None = None) -> tuple[int, list[str]]:
    """Accept (or discard) every waiting event, or a station's; returns (how many, errors)."""
    done, errors = 0, []
    where, args = ("AND station = ?", [station]) if station else ("", [])
    ids = [r[0] for r in db.execute(f"SELECT id FROM quarantine WHERE status = 'waiting' {where} ORDER BY station, seq", args)]
    for eid in ids:
        try:
            done += len((accept if accept_them else discard)(db, eid, actor, now))
        except NotWaiting:
            continue  # decided with its session already
        except EventRejected as exc:
            errors.append(f"{eid}: {exc}")
    return done, errors
