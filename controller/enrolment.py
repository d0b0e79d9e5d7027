"""Enrolment: a station with no token asks to join; an admin approves it.

The agent makes a random one-time *enrolment key* and keeps it. Its first
``hello`` carries the key instead of a token; the controller records a
pending request (station, hostname, platform, MAC, and a short fingerprint of
the key that the station also shows, so the admin approves the right
machine). Once approved, the next ``hello`` with the same key receives the
station's own token in ``welcome`` — generated at that moment, so the
controller never stores a token in clear, only its hash. A re-imaged PC has
lost its key and token: it simply enrols again. Revoking clears the token
hash, and the controller drops a revoked station's live connection.
"""

from __future__ import annotations

import hashlib

import sqlite_utils

from controller import stations
from controller.settings import Settings


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key: str) -> str:
    h = key_hash(key).upper()
    return f"{h[:4]}-{h[4:8]}"


def request(db: sqlite_utils.Database, station: str, key: str, hostname: str, platform: str, mac: str, peer: str, now: float) -> str:
    """Record or look up a request; returns its status: pending, approved or rejected."""
    conn = db.conn
    row = conn.execute("SELECT key_hash, status FROM enrolments WHERE station = ?", (station,)).fetchone()
    h = key_hash(key)
    if row is not None and row[0] == h:
        return row[1]
    conn.execute(
        "INSERT OR REPLACE INTO enrolments (station, key_hash, hostname, platform, mac, peer, requested, status)"
        " VALUES (?,?,?,?,?,?,?, 'pending')",
        (station, h, hostname[:100], platform[:100], mac[:40], peer[:60], now),
    )
    return "pending"


def complete(db: sqlite_utils.Database, settings: Settings, station: str, key: str, now: float) -> str | None:
    """The approved station is here with its key: make its token (once) and forget the request."""
    conn = db.conn
    row = conn.execute("SELECT key_hash, status FROM enrolments WHERE station = ?", (station,)).fetchone()
    spec = settings.station(station)
    if row is None or row[0] != key_hash(key) or row[1] != "approved" or spec is None:
        return None
    token = stations.set_token(db, spec, now)
    conn.execute("DELETE FROM enrolments WHERE station = ?", (station,))
    return token


def decide(db: sqlite_utils.Database, station: str, approve: bool, actor: str, now: float) -> bool:
    cur = db.conn.execute(
        "UPDATE enrolments SET status = ?, decided = ?, decided_by = ? WHERE station = ? AND status = 'pending'",
        ("approved" if approve else "rejected", now, actor, station),
    )
    return cur.rowcount == 1


def revoke(db: sqlite_utils.Database, station: str) -> bool:
    cur = db.conn.execute("UPDATE stations SET status = 'revoked', token_hash = NULL WHERE id = ?", (station,))
    return cur.rowcount == 1


def pending(db: sqlite_utils.Database) -> list[dict]:
    rows = list(db.query("SELECT station, key_hash, hostname, platform, mac, peer, requested, status FROM enrolments ORDER BY requested"))
    for r in rows:
        h = r.pop("key_hash").upper()
        r["fingerprint"] = f"{h[:4]}-{h[4:8]}"
    return rows
