"""SQLite through sqlite-utils: WAL, one writer thread, readers in threads.

Writes are functions ``fn(db) -> result`` queued to the one writer thread. The
writer takes every write waiting at that moment, runs each inside its own
SAVEPOINT (a failing write rolls back alone), commits once for the whole
batch, and only then resolves the callers' futures: a caller that gets a
result knows its write is on disk. This group commit keeps thousands of
stations' events flowing through one writer.

Reads run on a small pool of threads, each with its own connection.

A store is opened only if it is the right one (:func:`check_path`): a
zero-byte or non-database file, a truncated file, a folder, a missing folder
(unless ``create``), a schema newer than the code or a read-only file is
refused with one line (:class:`StoreOpenError`). The controller that serves a
store holds it alone: an exclusive ``flock`` on ``<store>.lock`` beside it
(released by the kernel when the process dies, so a crash leaves no stale
lock); the one-shot commands (``station``, ``export``, ``backup``) do not take
it and work while the controller runs, as SQLite's own locking lets them.

The WAL is kept small: ``journal_size_limit`` truncates it after a checkpoint
and the writer asks for a passive checkpoint every :data:`CHECKPOINT_EVERY`
commits. A store that cannot commit is logged once when it starts failing and
once when it commits again (with the count in between), and :meth:`Store.health`
says why it cannot work (``/healthz``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
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


WAL_LIMIT = 16 * 1024 * 1024  # bytes the WAL is truncated to after a checkpoint
CHECKPOINT_EVERY = 200  # commits between two passive checkpoints
DISK_RESERVE = 1024 * 1024  # below this many free bytes the store says it cannot work
_HEADER = b"SQLite format 3\x00"


class StoreError(RuntimeError):
    """The store could not commit (disk full, read-only, corrupt); nothing was acknowledged."""


class StoreOpenError(StoreError):
    """This is not a store to open (the text is one line, for the operator)."""


def check_path(path: str | Path, *, create: bool = True) -> None:
    """Refuse, with one line, a path that is not a store this controller may open (StoreOpenError)."""
    if str(path) == ":memory:":
        return
    p = Path(path)
    if p.is_dir():
        raise StoreOpenError(f"{p} is a folder, not a store file")
    if not p.parent.is_dir():
        if not create:
            raise StoreOpenError(f"the folder {p.parent} does not exist (a mistyped path?); give --create to make a new store there")
        p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        if not os.access(p.parent, os.W_OK):
            raise StoreOpenError(f"cannot create {p}: the folder {p.parent} is read-only")
        return
    size = p.stat().st_size
    if size == 0:
        raise StoreOpenError(f"{p} is an empty file (0 bytes), not a store: restore it from a backup, or move it away to start anew")
    with open(p, "rb") as f:
        header = f.read(100)
    if not header.startswith(_HEADER):
        raise StoreOpenError(f"{p} is not an SQLite database (a wrong path, or a damaged file)")
    if len(header) < 100:
        raise StoreOpenError(f"{p} is truncated ({size} bytes): restore it from a backup")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # the in-header size is current (SQLite file format, 1.3.7)
    if size % page_size or (header_valid and pages * page_size > size):
        raise StoreOpenError(f"{p} is truncated ({size} bytes, {pages} pages of {page_size} expected): restore it from a backup")
    if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK):
        raise StoreOpenError(f"{p} is read-only (the file or its folder): the controller must write its store")


class StoreLock:
    """The serving controller's exclusive hold on a store: ``flock`` on ``<store>.lock``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(f"{path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if sys.platform == "win32":  # the controller runs on Debian (agent/swarm.py imports this module on stations too)
            raise StoreOpenError("serving a store needs a POSIX system (flock)")
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreOpenError(f"{self.path.with_suffix('')} is in use by another controller (pid {holder}; lock {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def connect(path: str | Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


def create_private(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite gives its -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except FileExistsError:
        pass


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations not yet applied; returns the schema version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreOpenError(
            f"the store's schema (version {version}) is newer than this controller's ({len(MIGRATIONS)}): upgrade the controller, or open the right store"
        )
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
    def __init__(self, path: str | Path, *, create: bool = True, exclusive: bool = False, wal_limit: int = WAL_LIMIT) -> None:
        self.path = Path(path)
        self.create = create  # a missing folder is made (tests, the demo); `serve` makes it only with --create
        self.lock = StoreLock(path) if exclusive and str(path) != ":memory:" else None
        self.wal_limit = wal_limit
        self.failure: str | None = None  # why the last commit failed, until one succeeds again
        self.failed_commits = 0
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
        """Open the store, or raise StoreOpenError saying in one line why this is not one to open."""
        check_path(self.path, create=self.create)
        if str(self.path) != ":memory:":
            create_private(self.path)  # 0600 whatever the umask, when the store is new
        if self.lock is not None:
            self.lock.acquire()
        loop = asyncio.get_running_loop()
        try:
            self._wdb = await loop.run_in_executor(self._writer, self._open_writer)
        except Exception:
            if self.lock is not None:
                self.lock.release()
            raise
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="store-writer")

    def _open_writer(self) -> sqlite_utils.Database:
        try:
            db = connect(self.path)
            db.conn.execute(f"PRAGMA journal_size_limit={self.wal_limit}")
            # checkpoint when the WAL holds half the limit: it then never grows past the limit by more than a commit
            (page_size,) = db.conn.execute("PRAGMA page_size").fetchone()
            db.conn.execute(f"PRAGMA wal_autocheckpoint={max(16, self.wal_limit // page_size // 2)}")
            migrate(db)
        except sqlite3.DatabaseError as exc:  # not a database, malformed, read-only, locked
            raise StoreOpenError(f"cannot open the store {self.path}: {exc}") from None
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
        if self.lock is not None:
            self.lock.release()

    # ---------------------------------------------------------------- health

    async def health(self) -> str | None:
        """None when the store can work; else why not, in one line (for ``/healthz``)."""
        if str(self.path) != ":memory:" and sys.platform != "win32":
            st = await asyncio.to_thread(os.statvfs, self.path.parent)
            free = st.f_bavail * st.f_frsize
            if free < DISK_RESERVE:
                return f"disk almost full: {free} bytes free under {self.path.parent}"
        if self.failure is not None:
            try:  # has it come back? one small real commit tells
                await self.write(_probe)
            except StoreError:
                pass
        if self.failure is not None:
            return f"cannot commit ({self.failed_commits} failed commits): {self.failure}"
        return None

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
                if self.failure is None:  # once per change of state, not once per write
                    log.error("store: cannot commit to %s: %s; nothing is acknowledged (not committed) until it can", self.path, exc)
                self.failure = str(exc)
                self.failed_commits += 1
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreError(f"could not commit to {self.path}: {exc}"))
                continue
            if self.failure is not None:
                log.warning("store: commits again, after %d failed commits (%s)", self.failed_commits, self.failure)
                self.failure, self.failed_commits = None, 0
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
        if self.commits % CHECKPOINT_EVERY == 0:  # readers may hold a snapshot: passive, never waits
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # the commit is durable; the next checkpoint tries again
                log.debug("store: checkpoint failed: %s", exc)
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


def _probe(db: sqlite_utils.Database) -> None:
    """A one-page commit that changes nothing: the schema version written again."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    db.execute(f"PRAGMA user_version={int(version)}")


def run_with_store(path: str | Path, fn: Callable[[Store], Awaitable[T]], *, create: bool = False) -> T:
    """For one-shot commands (the CLI): open the store, run ``fn(store)`` on a new event loop, close it.

    A missing folder is refused unless ``create`` (a mistyped ``--database``).
    """

    async def run() -> T:
        store = Store(path, create=create)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())
