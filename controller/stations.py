"""Stations in the store: registration, tokens, status.

A station token is 32 random bytes (``secrets.token_urlsafe``). The store
keeps only its SHA-256: with that much entropy a slow password hash adds
nothing against guessing, and it would make 5,000 stations reconnecting
after a restart cost minutes of CPU. Staff *passwords*, which people choose,
are argon2 hashes (see ``controller/staff.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import sqlite_utils

from controller.settings import Settings, StationSpec


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, stored: str | None) -> bool:
    if not token or not stored:
        return False
    return hmac.compare_digest(hash_token(token), stored)


def sync_stations(db: sqlite_utils.Database, settings: Settings, now: float) -> None:
    """Make sure every configured station has a row (kind, zone, accessible follow the configuration)."""
    for spec in settings.stations:
        _upsert(db, spec, now)


def _upsert(db: sqlite_utils.Database, spec: StationSpec, now: float) -> None:
    db.conn.execute(
        "INSERT INTO stations (id, kind, accessible, zone, created) VALUES (?,?,?,?,?)"
        " ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, accessible = excluded.accessible, zone = excluded.zone",
        (spec.id, spec.kind, int(spec.accessible), spec.zone, now),
    )


def set_token(db: sqlite_utils.Database, spec: StationSpec, now: float) -> str:
    """Give a station a fresh token (approved); returns the token, shown once.

    The station's event sequence is left as it is: it belongs to the station (and its agent's
    incarnation), not to a token, so a re-enrolled station's next event follows its last one.
    """
    _upsert(db, spec, now)
    token = new_token()
    db.conn.execute("UPDATE stations SET token_hash = ?, status = 'approved' WHERE id = ?", (hash_token(token), spec.id))
    return token


@dataclass(frozen=True, slots=True)
class Link:
    """Where a connecting station's sequence stands, as its welcome says it."""

    last_seq: int  # the last seq committed for the hello's incarnation
    switched_from: str | None = None  # the incarnation that was current before, when this one replaced it
    gap: tuple[int, int] | None = None  # seqs recorded as lost at this hello (first, last)


def link_state(db: sqlite_utils.Database, station: str, incarnation: str, held_from: int) -> Link | None:
    """What :func:`begin_link` would answer, read only; None when it has something to write."""
    row = db.conn.execute("SELECT incarnation, last_seq FROM stations WHERE id = ?", (station,)).fetchone()
    if row is None or row[0] != incarnation or held_from > row[1] + 1:
        return None
    return Link(row[1])


def begin_link(db: sqlite_utils.Database, station: str, incarnation: str, held_from: int, now: float) -> Link:
    """A station says hello: make its incarnation the current one, and record what it can no longer send.

    Each incarnation (an install of the agent, an id it chose) numbers its events from 1. When the
    hello's incarnation is not the current one (a re-installed agent, or the old disk back), the
    current one's last seq is kept in ``station_incarnations`` and the hello's is taken up where it
    stood (0 when new). When the station holds nothing below ``held_from`` and the store's last seq is
    lower (a store restored from a backup older than what the station had acknowledged and let go),
    the seqs in between are lost for good: a ``seq_gap`` event records which and when, and the
    sequence moves on, so the station's events flow instead of waiting for ones that no longer exist.
    """
    conn = db.conn
    current, last_seq = conn.execute("SELECT incarnation, last_seq FROM stations WHERE id = ?", (station,)).fetchone()
    switched = None
    if current != incarnation:
        row = conn.execute(
            "SELECT last_seq FROM station_incarnations WHERE station = ? AND incarnation = ?", (station, incarnation)
        ).fetchone()
        if last_seq > 0:  # a station with events under another install: worth a record (a new station is not)
            _park(conn, station, current, last_seq, now)
            switched = current
            _record(conn, station, "station_incarnation", now, {"from": current, "to": incarnation, "last_seq": row[0] if row else 0})
        last_seq = row[0] if row else 0
        conn.execute("UPDATE stations SET incarnation = ?, last_seq = ? WHERE id = ?", (incarnation, last_seq, station))
    gap = None
    if held_from > last_seq + 1:
        gap = (last_seq + 1, held_from - 1)
        body = {"incarnation": incarnation, "first": gap[0], "last": gap[1], "count": gap[1] - gap[0] + 1}
        _record(conn, station, "seq_gap", now, body)
        last_seq = held_from - 1
        conn.execute("UPDATE stations SET last_seq = ? WHERE id = ?", (last_seq, station))
    _park(conn, station, incarnation, last_seq, now)
    return Link(last_seq, switched, gap)


def _park(conn, station: str, incarnation: str, last_seq: int, now: float) -> None:
    conn.execute(
        "INSERT INTO station_incarnations (station, incarnation, last_seq, first_seen, last_seen) VALUES (?,?,?,?,?)"
        " ON CONFLICT(station, incarnation) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq), last_seen = excluded.last_seen",
        (station, incarnation, last_seq, now, now),
    )


def _record(conn, station: str, kind: str, now: float, body: dict) -> None:
    """A controller-made event about a station (no seq: not one of the station's own)."""
    conn.execute(
        "INSERT INTO events (id, station, seq, type, at, received, body) VALUES (?,?,NULL,?,?,?,?)",
        (f"{kind}-{secrets.token_hex(8)}", station, kind, now, now, json.dumps(body)),
    )


# how many seqs were recorded as lost for the station of the row ``stations`` (a subquery)
LOST_SQL = "SELECT COALESCE(SUM(json_extract(body, '$.count')), 0) FROM events WHERE station = stations.id AND type = 'seq_gap'"


def gaps(db: sqlite_utils.Database, station: str) -> list[dict]:
    """The seq ranges recorded as lost for ``station`` (see :func:`begin_link`), oldest first."""
    rows = db.conn.execute("SELECT at, body FROM events WHERE station = ? AND type = 'seq_gap' ORDER BY at", (station,))
    return [{"at": at, **json.loads(body)} for at, body in rows]


def station_row(db: sqlite_utils.Database, station: str) -> dict | None:
    rows = list(db.query("SELECT * FROM stations WHERE id = ?", [station]))
    return rows[0] if rows else None
