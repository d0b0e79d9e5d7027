"""The station's durable outbox, and the little state the agent must keep.

An event gets its per-station sequence number and goes into SQLite in the
same transaction; it leaves only when the controller acknowledges it (after
committing). A crash, a restart or a network cut loses nothing: whatever is
still here is sent again, and the controller treats replays as duplicates.

Blocking SQLite calls on a file run on one shared thread (``_EXECUTOR``), off
the loop. An in-memory outbox (the swarm's simulated stations, tests) has no
disk to wait for: its calls run inline, because a thread hop costs more than
the query (5,000 simulated stations spent most of their CPU on the hops).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from espace import protocol as p

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
_ENCODE = p.encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- events the controller refused for good (or that failed our own check, seq NULL): kept for IT, out of the way
CREATE TABLE IF NOT EXISTS set_aside (rowid INTEGER PRIMARY KEY, seq INTEGER, id TEXT, body TEXT NOT NULL, reason TEXT NOT NULL);
"""


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)

    async def _run(self, fn: Callable[[], Any]) -> Any:
        if self.path == ":memory:":
            return fn()
        return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, fn)

    # ---------------------------------------------------------------- events

    def _add(self, build: Callable[[int], p.Event]) -> p.Event:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute("SELECT value FROM kv WHERE key = 'last_seq'").fetchone()
            seq = (int(row[0]) if row else 0) + 1
            ev = build(seq)
            c.execute("INSERT INTO outbox (seq, id, body) VALUES (?,?,?)", (seq, ev.id, _ENCODE(ev)))
            c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('last_seq', ?)", (str(seq),))
            c.execute("COMMIT")
        except Exception:
            if c.in_transaction:  # SQLite rolls back by itself on a full disk
                c.execute("ROLLBACK")
            raise
        return ev

    async def add(self, build: Callable[[int], p.Event]) -> p.Event:
        """Store a new event built with its sequence number; returns it."""
        return await self._run(lambda: self._add(build))

    def _pending(self, limit: int) -> list[tuple[int, str, str]]:
        return self._conn.execute("SELECT seq, id, body FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()

    async def pending(self, limit: int = 500) -> list[tuple[int, str, str]]:
        return await self._run(lambda: self._pending(limit))

    async def remove(self, event_id: str) -> None:
        await self._run(lambda: self._conn.execute("DELETE FROM outbox WHERE id = ?", (event_id,)))

    async def committed_up_to(self, seq: int) -> int:
        """The controller says it holds everything up to ``seq``: drop those, and never reuse them."""

        def run() -> int:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                n = c.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
                row = c.execute("SELECT value FROM kv WHERE key = 'last_seq'").fetchone()
                if not row or int(row[0]) < seq:
                    c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('last_seq', ?)", (str(seq),))
                c.execute("COMMIT")
            except Exception:
                if c.in_transaction:  # SQLite rolls back by itself on a full disk
                    c.execute("ROLLBACK")
                raise
            return n

        return await self._run(run)

    async def set_aside(self, event_id: str, reason: str) -> bool:
        """Move a refused event out of the way of the ones behind it; False if it is not here."""

        def run() -> bool:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                moved = c.execute(
                    "INSERT INTO set_aside (seq, id, body, reason) SELECT seq, id, body, ? FROM outbox WHERE id = ?", (reason, event_id)
                ).rowcount
                c.execute("DELETE FROM outbox WHERE id = ?", (event_id,))
                c.execute("COMMIT")
            except Exception:
                if c.in_transaction:  # SQLite rolls back by itself on a full disk
                    c.execute("ROLLBACK")
                raise
            return bool(moved)

        return await self._run(run)

    async def set_aside_invalid(self, body: str, reason: str) -> None:
        """Keep an event that failed the protocol's check before it got a seq."""
        await self._run(lambda: self._conn.execute("INSERT INTO set_aside (seq, id, body, reason) VALUES (NULL, NULL, ?, ?)", (body, reason)))

    async def set_aside_rows(self) -> list[tuple[int | None, str | None, str, str]]:
        return await self._run(lambda: self._conn.execute("SELECT seq, id, body, reason FROM set_aside ORDER BY rowid").fetchall())

    async def count(self) -> int:
        return await self._run(lambda: self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    # ---------------------------------------------------------------- state

    def get_sync(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    async def get(self, key: str) -> Any:
        return await self._run(lambda: self.get_sync(key))

    async def put(self, key: str, value: Any) -> None:
        def run() -> None:
            if value is None:
                self._conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                self._conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

        await self._run(run)

    def close(self) -> None:
        self._conn.close()
