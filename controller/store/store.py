"""SQLite through sqlite-utils: WAL, one writer thread, readers in threads.

Writes are functions ``fn(db) -> result`` queued to the one writer thread. The
writer takes every write waiting at that moment, runs each inside its own
SAVEPOINT (a failing write rolls back alone), commits once for the whole
batch, and only then resolves the callers' futures: a caller that gets a
result knows its write is on disk. This group commit keeps thousands of
stations' events flowing through one writer.

Reads run on a small pool of threads, each with its own connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from controller.store.schema import MIGRATIONS

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 500


class StoreError(RuntimeError):
    """The store could not commit (disk full, read-only, corrupt); nothing was acknowledged."""


def connect(path: str | Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations not yet applied; returns the schema version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                db.conn.execute(statement)
            db.conn.execute(f"PRAGMA user_version={number}")
            db.conn.execute("COMMIT")
        except Exception:
            db.conn.execute("ROLLBACK")
            raise
        log.info("store migrated to schema version %d", number)
        version = number
    return version


def _statements(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        if sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf))
            buf = []
    return [s for s in out if s.strip()]


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-reader")
        self._local = threading.local()
        self._reader_dbs: list[sqlite_utils.Database] = []
        self._wdb: sqlite_utils.Database | None = None
        self._queue: asyncio.Queue[tuple[Callable[[sqlite_utils.Database], Any], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.writes = 0

    # ---------------------------------------------------------------- lifetime

    async def open(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._wdb = await loop.run_in_executor(self._writer, self._open_writer)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="store-writer")

    def _open_writer(self) -> sqlite_utils.Database:
        db = connect(self.path)
        migrate(db)
        return db

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        loop = asyncio.get_running_loop()
        if self._wdb is not None:
            await loop.run_in_executor(self._writer, self._wdb.conn.close)
            self._wdb = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for db in self._reader_dbs:
            db.conn.close()
        self._reader_dbs.clear()

    # ---------------------------------------------------------------- writes

    def submit(self, fn: Callable[[sqlite_utils.Database], T]) -> asyncio.Future[T]:
        """Queue ``fn`` for the writer thread; the future resolves once it is committed.

        Writes are applied in the order they are submitted.
        """
        if self._queue is None:
            raise StoreError("store is not open")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, fut))
        return fut

    async def write(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` in the writer thread; return once its result is committed."""
        return await self.submit(fn)

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._writer, self._commit_batch, batch)
            except Exception as exc:  # the commit itself failed: nobody's write is durable
                log.error("store commit of %d writes failed: %s", len(batch), exc)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreError(f"could not commit to {self.path}: {exc}"))
                continue
            for (_, fut), (ok, value) in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _commit_batch(self, batch: list[tuple[Callable[[sqlite_utils.Database], Any], Any]]) -> list[tuple[bool, Any]]:
        db = self._wdb
        assert db is not None
        conn = db.conn
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _ in batch:
                conn.execute("SAVEPOINT w")
                try:
                    value = fn(db)
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    results.append((False, exc))
                else:
                    conn.execute("RELEASE w")
                    results.append((True, value))
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        self.writes += len(batch)
        return results

    # ---------------------------------------------------------------- reads

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` on a reader thread's own connection."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            self._reader_dbs.append(db)
        return fn(db)


def run_with_store(path: str | Path, fn: Callable[[Store], Awaitable[T]]) -> T:
    """For one-shot commands (the CLI): open the store, run ``fn(store)`` on a new event loop, close it."""

    async def run() -> T:
        store = Store(path)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())
