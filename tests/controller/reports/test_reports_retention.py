"""Pruning the raw event trail keeps sessions, prints and every figure."""

from __future__ import annotations

import sqlite3

import pytest
from reports_fixture import build, local

from controller.reports import figures, prune_events

NOW = local(2026, 11, 1, 12)
DAY = 86400


def add_event(conn: sqlite3.Connection, eid: str, at: float) -> None:
    conn.execute(
        "INSERT INTO events (id, station, seq, type, at, received, body)"
        " VALUES (?, 'PC-01', NULL, 'session_started', ?, ?, '{}')",
        (eid, at, at),
    )


def count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_prunes_only_old_events() -> None:
    conn = build()
    add_event(conn, "old-1", NOW - 400 * DAY)
    add_event(conn, "old-2", NOW - 91 * DAY)
    add_event(conn, "edge", NOW - 90 * DAY)  # exactly 90 days old: kept
    add_event(conn, "new", NOW - 3 * DAY)
    conn.commit()
    before = (count(conn, "sessions"), count(conn, "print_jobs"), count(conn, "help_requests"))
    annual_before = figures.annual(conn, 2026)

    assert prune_events(conn, 90, NOW) == 2
    assert [r[0] for r in conn.execute("SELECT id FROM events ORDER BY at")] == ["edge", "new"]
    after = (count(conn, "sessions"), count(conn, "print_jobs"), count(conn, "help_requests"))
    assert after == before
    assert figures.annual(conn, 2026) == annual_before
    assert not conn.in_transaction  # committed
    assert prune_events(conn, 90, NOW) == 0


@pytest.mark.parametrize("days", [0, -5, "90", True])
def test_rejects_bad_ages(days: object) -> None:
    with pytest.raises(ValueError, match="older_than_days"):
        prune_events(build(), days, NOW)  # type: ignore[arg-type]
