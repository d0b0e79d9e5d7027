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
import secrets

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
    """Give a station a fresh token (approved); returns the token, shown once."""
    _upsert(db, spec, now)
    token = new_token()
    db.conn.execute(
        "UPDATE stations SET token_hash = ?, status = 'approved', last_seq = 0 WHERE id = ?",
        (hash_token(token), spec.id),
    )
    return token


def station_row(db: sqlite_utils.Database, station: str) -> dict | None:
    rows = list(db.query("SELECT * FROM stations WHERE id = ?", [station]))
    return rows[0] if rows else None
