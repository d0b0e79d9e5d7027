"""Retention: the raw event trail is pruned after a while; sessions and prints stay.

The events table is the audit trail of everything agents and staff sent.
Reports never read it (they read sessions, print_jobs, help_requests, escapes and
queue_waits), so old events can go without changing any figure.
"""

from __future__ import annotations

import sqlite3

DAY = 86400.0


def prune_events(conn: sqlite3.Connection, older_than_days: float, now: float) -> int:
    """Delete events whose ``at`` is more than ``older_than_days`` before ``now``
    (UTC epoch seconds, from the injected clock); returns how many went.

    Only the ``events`` table is touched. Commits. Run it on the store's writer.
    """
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float):
        raise ValueError(f"older_than_days must be a number, not {older_than_days!r}")
    if older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days!r}")
    cutoff = now - older_than_days * DAY
    with conn:
        cursor = conn.execute("DELETE FROM events WHERE at < ?", (cutoff,))
    return cursor.rowcount
