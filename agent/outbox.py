"""The station's durable outbox, and the little state the agent must keep.

An event gets its per-station sequence number and goes into SQLite in the
same transaction; it is sent until the controller acknowledges it (after
committing). A crash, a restart or a network cut loses nothing: whatever is
not acknowledged is sent again, and the controller treats replays as duplicates.

An acknowledged event is *kept* for a while (``keep_acked_s``, 7 days, and at
most ``keep_acked_max`` events, the oldest going first): when the controller's
store is restored from last night's backup, its welcome says a last seq lower
than what this station had acknowledged, and :meth:`Outbox.committed_up_to`
makes those events pending again, so they are sent once more. What the station
no longer holds, the hello says (:meth:`Outbox.held_from`) and the controller
records as a gap.

The sequence numbers belong to an *incarnation*: a random id made when the
outbox is created (at install), sent in the hello. A re-installed agent has a
new outbox, a new incarnation, and numbers from 1 again without colliding with
its predecessor's events. An outbox from before incarnations keeps ``""``.

Blocking SQLite calls on a file run on one shared thread (``_EXECUTOR``), off
the loop. An in-memory outbox (the swarm's simulated stations, tests) has no
disk to wait for: its calls run inline, because a thread hop costs more than
the query (5,000 simulated stations spent most of their CPU on the hops).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from espace import protocol as p
from espace.clock import Clock, SystemClock

log = logging.getLogger(__name__)

KEEP_ACKED_S = 7 * 86400.0  # a restore from last night's backup (or last week's) finds its events here
KEEP_ACKED_MAX = 20_000  # about 6 MB; a busy PC emits some 150 events a day

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
_ENCODE = p.encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- events the controller refused for good (or that failed our own check, seq NULL): kept for IT, out of the way
CREATE TABLE IF NOT EXISTS set_aside (rowid INTEGER PRIMARY KEY, seq INTEGER, id TEXT, body TEXT NOT NULL, reason TEXT NOT NULL);
"""
# acked: when the controller acknowledged it (the agent's clock); NULL while it waits to be sent
ACKED = "ALTER TABLE outbox ADD COLUMN acked REAL"
PENDING_INDEX = "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE acked IS NULL"


class Outbox:
    def __init__(
        self, path: str | Path, *, clock: Clock | None = None, keep_acked_s: float = KEEP_ACKED_S, keep_acked_max: int | None = None
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.clock: Clock = clock or SystemClock()
        self.keep_acked_s = keep_acked_s
        # in memory (the swarm's thousands of simulated stations, tests) there is no restore to survive
        self.keep_acked_max = keep_acked_max if keep_acked_max is not None else (0 if self.path == ":memory:" else KEEP_ACKED_MAX)
        self._acks_since_prune = 0
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)
        if "acked" not in {r[1] for r in self._conn.execute("PRAGMA table_info(outbox)")}:
            self._conn.execute(ACKED)  # an outbox from before acknowledged events were kept
        self._conn.execute(PENDING_INDEX)
        self.incarnation: str = self.get_sync("incarnation") or ""
        if self.get_sync("incarnation") is None:
            # made once, at install; an outbox that already numbered events keeps the old, unnamed one
            self.incarnation = "" if self.get_sync("last_seq") is not None else secrets.token_hex(8)
            self._conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('incarnation', ?)", (json.dumps(self.incarnation),))

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
        return self._conn.execute("SELECT seq, id, body FROM outbox WHERE acked IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()

    async def pending(self, limit: int = 500) -> list[tuple[int, str, str]]:
        """Events not yet acknowledged, oldest first."""
        return await self._run(lambda: self._pending(limit))

    def _remove(self, event_id: str) -> None:
        if self.keep_acked_max <= 0:
            self._conn.execute("DELETE FROM outbox WHERE id = ?", (event_id,))
            return
        self._conn.execute("UPDATE outbox SET acked = ? WHERE id = ? AND acked IS NULL", (self.clock.now(), event_id))
        self._acks_since_prune += 1
        if self._acks_since_prune >= min(100, self.keep_acked_max):
            self._prune()

    async def remove(self, event_id: str) -> None:
        """The controller acknowledged the event: it is not sent again (and is kept a while, see the module)."""
        await self._run(lambda: self._remove(event_id))

    def _prune(self) -> int:
        """Forget the oldest acknowledged events past the retention window or the size bound (a prefix, so that
        what is kept runs without a hole up to the pending ones)."""
        self._acks_since_prune = 0
        c = self._conn
        cutoff = self.clock.now() - self.keep_acked_s
        keep = c.execute("SELECT MIN(seq) FROM outbox WHERE acked IS NULL OR acked >= ?", (cutoff,)).fetchone()[0]
        over = c.execute(
            "SELECT seq FROM outbox WHERE acked IS NOT NULL ORDER BY seq DESC LIMIT 1 OFFSET ?", (max(0, self.keep_acked_max),)
        ).fetchone()
        by_age = keep if keep is not None else 1 << 62  # below it, every event is acknowledged and old
        by_size = over[0] + 1 if over is not None else 0  # below it, more than keep_acked_max are kept
        return c.execute("DELETE FROM outbox WHERE acked IS NOT NULL AND seq < ?", (max(by_age, by_size),)).rowcount

    async def prune(self) -> int:
        return await self._run(self._prune)

    def _last_seq(self) -> int:
        row = self._conn.execute("SELECT value FROM kv WHERE key = 'last_seq'").fetchone()
        return int(row[0]) if row else 0

    async def last_seq(self) -> int:
        """The last sequence number this outbox gave out."""
        return await self._run(self._last_seq)

    def _held_from(self) -> int:
        nxt = self._last_seq() + 1
        for (seq,) in self._conn.execute("SELECT seq FROM outbox WHERE seq < ? ORDER BY seq DESC", (nxt,)):
            if seq != nxt - 1:
                break  # a hole (an event set aside): what lies below it could not be sent in order
            nxt = seq
        return nxt

    async def held_from(self) -> int:
        """Where the unbroken run of seqs held here (pending or kept) begins, up to the last one given out;
        the next seq when none is: the hello says it, and the controller takes what lies below as lost."""
        return await self._run(self._held_from)

    async def committed_up_to(self, seq: int) -> int:
        """The controller says it holds everything up to ``seq`` (its welcome): those are acknowledged, and
        never reused; those above that it had acknowledged before (a store restored from a backup) are
        pending again, to be sent once more. Returns how many became acknowledged."""

        def run() -> int:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                if self.keep_acked_max <= 0:
                    n = c.execute("DELETE FROM outbox WHERE seq <= ? AND acked IS NULL", (seq,)).rowcount
                else:
                    n = c.execute("UPDATE outbox SET acked = ? WHERE seq <= ? AND acked IS NULL", (self.clock.now(), seq)).rowcount
                again = c.execute("UPDATE outbox SET acked = NULL WHERE seq > ? AND acked IS NOT NULL", (seq,)).rowcount
                if self._last_seq() < seq:
                    c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('last_seq', ?)", (str(seq),))
                if self.keep_acked_max > 0:
                    self._prune()
                c.execute("COMMIT")
            except Exception:
                if c.in_transaction:  # SQLite rolls back by itself on a full disk
                    c.execute("ROLLBACK")
                raise
            if again:
                log.warning("the controller lacks %d events it had acknowledged (seq %d on): sending them again", again, seq + 1)
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

    async def new_incarnation(self) -> str:
        """Number the pending events again from 1 under a new incarnation, forgetting the kept ones.

        For an outbox older than what the controller holds for its incarnation (a disk image put back, a
        copied state folder): its numbers would collide with events the controller already has."""

        def run() -> str:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("DELETE FROM outbox WHERE acked IS NOT NULL")
                rows = c.execute("SELECT seq, body FROM outbox ORDER BY seq").fetchall()
                c.execute("DELETE FROM outbox")
                for n, (_, body) in enumerate(rows, start=1):
                    ev = msgspec.json.decode(body, type=p.Event)
                    c.execute("INSERT INTO outbox (seq, id, body) VALUES (?,?,?)", (n, ev.id, _ENCODE(msgspec.structs.replace(ev, seq=n))))
                self.incarnation = secrets.token_hex(8)
                c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('incarnation', ?)", (json.dumps(self.incarnation),))
                c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('last_seq', ?)", (str(len(rows)),))
                c.execute("COMMIT")
            except Exception:
                c.execute("ROLLBACK")
                raise
            return self.incarnation

        return await self._run(run)

    async def count(self) -> int:
        """Events waiting to be acknowledged."""
        return await self._run(lambda: self._conn.execute("SELECT COUNT(*) FROM outbox WHERE acked IS NULL").fetchone()[0])

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
