"""Enrolment: a station with no token asks to join; an admin approves *the key they saw*.

The agent makes a random one-time *enrolment key* and keeps it. Its first
``hello`` carries the key instead of a token; the controller records a request
for that (station, key): hostname, platform, MAC, the address it came from, and
the key's SHA-256, from which both sides derive the code the station shows
(:mod:`espace.enrolcode`: 80 bits in four groups).

- A request never replaces another: each key is its own row, so several
  requests for one station are all listed, each with its code and address. An
  attacker's hello for PC-12 is one more line beside the real one, never in its
  place, and a request that was approved stays approved for its key only.
- An approval names the code the admin compared (``decide(..., code=...)``). It
  approves that key, and only a hello with that key collects the token. Two
  pending requests with the same code for one station (a forged collision) are
  refused as ambiguous: reject them both.
- A request for a station that holds a live token is a *re-enrolment*: it is
  listed as such, and approving it needs an explicit confirmation
  (``reenrol=True``). The live station is not touched until the approved key
  collects its token (the new token replaces the old one then).
- At most :data:`MAX_OPEN` open requests per station are kept; more are not
  recorded (the station is told it waits), so a flood of hellos cannot grow the
  list without end: reject the strangers and the real station's next attempt is
  recorded.

Once approved, the next ``hello`` with the same key receives the station's own
token in ``welcome`` — generated at that moment, so the controller never stores
a token in clear, only its hash. Revoking clears the token hash, and the
controller drops a revoked station's live connection.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller import stations
from controller.settings import Settings
from espace import enrolcode

MAX_OPEN = 8  # open (pending or approved) requests kept per station


def key_hash(key: str) -> str:
    return enrolcode.key_digest(key)


def fingerprint(key: str) -> str:
    """The code a station with this key shows (kept under this name: tests and callers use it)."""
    return enrolcode.code_for_key(key)


def request(db: sqlite_utils.Database, station: str, key: str, hostname: str, platform: str, mac: str, peer: str, now: float) -> str:
    """Record a request for this key, or look it up; its status: pending, approved, rejected, or full (not recorded)."""
    conn = db.conn
    h = key_hash(key)
    row = conn.execute("SELECT id, status FROM enrolments WHERE station = ? AND key_hash = ?", (station, h)).fetchone()
    if row is not None:
        conn.execute("UPDATE enrolments SET last_seen = ? WHERE id = ?", (now, row[0]))
        return str(row[1])
    (open_now,) = conn.execute("SELECT COUNT(*) FROM enrolments WHERE station = ? AND status IN ('pending', 'approved')", (station,)).fetchone()
    if open_now >= MAX_OPEN:
        return "full"
    conn.execute(
        "INSERT INTO enrolments (station, key_hash, hostname, platform, mac, peer, requested, last_seen, status)"
        " VALUES (?,?,?,?,?,?,?,?, 'pending')",
        (station, h, hostname[:100], platform[:100], mac[:40], peer[:60], now, now),
    )
    return "pending"


def complete(db: sqlite_utils.Database, settings: Settings, station: str, key: str, now: float) -> str | None:
    """The approved key is here: make the station's token (once) and forget that request (the others stay)."""
    conn = db.conn
    row = conn.execute("SELECT id, status FROM enrolments WHERE station = ? AND key_hash = ?", (station, key_hash(key))).fetchone()
    spec = settings.station(station)
    if row is None or row[1] != "approved" or spec is None:
        return None
    token = stations.set_token(db, spec, now)
    conn.execute("DELETE FROM enrolments WHERE id = ?", (row[0],))
    return token


def has_live_token(db: sqlite_utils.Database, station: str) -> bool:
    row = db.conn.execute("SELECT status, token_hash FROM stations WHERE id = ?", (station,)).fetchone()
    return row is not None and row[0] == "approved" and row[1] is not None


def decide(
    db: sqlite_utils.Database, station: str, approve: bool, actor: str, now: float, *, code: str | None = None, reenrol: bool = False
) -> dict[str, Any]:
    """Approve or reject the pending request of ``station`` whose code is ``code``.

    Returns ``{"outcome": ..., "requests": [...]}``; the outcome is ``approved`` or
    ``rejected`` (done), or why nothing was done: ``no_code`` (an approval must name
    the code), ``bad_code``, ``no_request`` (no pending request with that code),
    ``ambiguous`` (two with the same code: a forged collision), ``confirm_reenrol``
    (the station holds a live token: a re-enrolment must be confirmed),
    ``already_approved`` (another key of this station is approved and not yet collected).
    A rejection without a code rejects every pending request of the station.
    """
    grouped = None
    if code is not None:
        grouped = enrolcode.normalise(code)
        if grouped is None:
            return {"outcome": "bad_code", "requests": []}
    elif approve:
        return {"outcome": "no_code", "requests": []}
    waiting = [r for r in pending(db) if r["station"] == station and r["status"] == "pending"]
    chosen = [r for r in waiting if grouped is None or r["fingerprint"] == grouped]
    if not chosen:
        return {"outcome": "no_request", "requests": []}
    if approve:
        if len(chosen) > 1:
            return {"outcome": "ambiguous", "requests": chosen}
        if chosen[0]["reenrol"] and not reenrol:
            return {"outcome": "confirm_reenrol", "requests": chosen}
        if db.conn.execute("SELECT 1 FROM enrolments WHERE station = ? AND status = 'approved'", (station,)).fetchone():
            return {"outcome": "already_approved", "requests": chosen}
    status = "approved" if approve else "rejected"
    for r in chosen:
        db.conn.execute(
            "UPDATE enrolments SET status = ?, decided = ?, decided_by = ? WHERE id = ? AND status = 'pending'",
            (status, now, actor, r["id"]),
        )
    return {"outcome": status, "requests": chosen}


def revoke(db: sqlite_utils.Database, station: str) -> bool:
    cur = db.conn.execute("UPDATE stations SET status = 'revoked', token_hash = NULL WHERE id = ?", (station,))
    return cur.rowcount == 1


def pending(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every request, oldest first, each with its code and whether it would re-enrol a station that holds a live token."""
    rows = list(
        db.query(
            "SELECT e.id, e.station, e.key_hash, e.hostname, e.platform, e.mac, e.peer, e.requested, e.last_seen, e.status,"
            " (s.status = 'approved' AND s.token_hash IS NOT NULL) AS reenrol"
            " FROM enrolments e LEFT JOIN stations s ON s.id = e.station ORDER BY e.requested, e.id"
        )
    )
    for r in rows:
        r["fingerprint"] = enrolcode.code_from_digest(r.pop("key_hash"))
        r["reenrol"] = bool(r["reenrol"])
        r["last_seen"] = r["last_seen"] if r["last_seen"] is not None else r["requested"]
    return rows
