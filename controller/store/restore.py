"""``espace-controller restore BACKUP``: put last night's backup back in place of a lost store.

What it does, in order (``deploy/controller/README.md`` says the same for IT):

1. checks the backup: a SQLite file that passes ``quick_check``, with the store's
   tables, from a schema this code knows;
2. refuses while a controller serves the store (it holds ``<store>.lock``, which
   ``restore`` takes for the time it works) or another process has it open (SQLite's
   WAL index, ``-shm``, is then locked by it);
3. moves the old store *and its ``-wal``/``-shm``* aside (``….before-restore-<when>``),
   never deleting them: a restored store opened next to a stale WAL of the crashed
   one reads as "database disk image is malformed";
4. copies the backup through SQLite's backup API to a temporary file, checks it,
   and renames it into place;
5. records a ``store_restored`` event in the restored store.

Nothing needs to be told to the stations: at their next hello the welcome says the
restored store's last seq, each station sends again what it still holds beyond it
(agents keep acknowledged events for 7 days, :mod:`agent.outbox`), and what none
holds any more is recorded as a ``seq_gap`` (:func:`controller.stations.begin_link`).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from controller.store.schema import MIGRATIONS
from controller.store.store import StoreLock, StoreOpenError

SIDE_FILES = ("-wal", "-shm", "-journal")
_SHM_DMS = 128  # SQLite's unix VFS: every connection with the WAL index open holds a shared lock on this byte


class RestoreError(RuntimeError):
    """The restore cannot be done; the text says why. Nothing was changed."""


@dataclass
class Restored:
    store: Path
    events: int
    stations: int
    last_received: float | None
    moved_aside: list[Path] = field(default_factory=list)


def held_by_another_process(store: Path) -> bool:
    """True when some process has ``store`` open in WAL mode (it holds a lock in ``<store>-shm``)."""
    shm = Path(f"{store}-shm")
    if sys.platform == "win32" or not shm.exists():
        return False
    import fcntl

    fd = os.open(shm, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS)
        return False
    finally:
        os.close(fd)


def check_backup(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only if it is a usable backup of a store; raise :class:`RestoreError` otherwise."""
    if not path.is_file():
        raise RestoreError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RestoreError(f"{path}: the file is empty")
    wal = Path(f"{path}-wal")
    # a finished backup is one file: read it as such, leaving nothing beside it (a -shm would be the newest
    # file in the backups folder); a copy with its own WAL beside it is read with that WAL
    mode = "mode=rw" if wal.exists() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"file:{path}?{mode}", uri=True)
        ok = conn.execute("PRAGMA quick_check").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{path}: not a usable SQLite file ({exc})") from None
    if ok != "ok":
        conn.close()
        raise RestoreError(f"{path}: damaged ({ok})")
    if not {"stations", "events"} <= tables:
        conn.close()
        raise RestoreError(f"{path}: not a store of this controller (no stations or events table)")
    if version > len(MIGRATIONS):
        conn.close()
        raise RestoreError(f"{path}: made by a newer version (schema {version}, this code knows {len(MIGRATIONS)})")
    return conn


def restore(backup: str | Path, store: str | Path, now: float | None = None) -> Restored:
    backup, store = Path(backup), Path(store)
    now = time.time() if now is None else now  # a stamp for file names and the audit trail, not policy
    if backup.resolve() == store.resolve():
        raise RestoreError(f"{backup} is the store itself")
    src = check_backup(backup)
    lock = StoreLock(store)  # the one a serving controller holds: none can start while the store is replaced
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except StoreOpenError as exc:
        src.close()
        raise RestoreError(f"{exc}: stop it first (systemctl stop espace-controller)") from None
    try:
        if held_by_another_process(store):
            raise RestoreError(f"{store} is open in another process (is the controller running? stop it first: systemctl stop espace-controller)")
        tmp = store.with_name(store.name + ".restoring")
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in SIDE_FILES)):
            leftover.unlink(missing_ok=True)
        dest = sqlite3.connect(tmp)
        try:
            with dest:
                src.backup(dest)
            if dest.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise RestoreError(f"the copy of {backup} does not check out; nothing changed")
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to rename into place
        finally:
            dest.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        moved = _move_aside(store, now)
        os.replace(tmp, store)
        _fsync_dir(store.parent)
        return _record(store, backup, now, moved)
    finally:
        src.close()
        lock.release()


def _move_aside(store: Path, now: float) -> list[Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    moved = []
    for suffix in ("", *SIDE_FILES):
        old = Path(f"{store}{suffix}")
        if old.exists():
            aside = Path(f"{store}.before-restore-{stamp}{suffix}")
            os.replace(old, aside)
            moved.append(aside)
    return moved


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _record(store: Path, backup: Path, now: float, moved: list[Path]) -> Restored:
    conn = sqlite3.connect(store)
    try:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        stations = conn.execute("SELECT COUNT(*) FROM stations").fetchone()[0]
        last = conn.execute("SELECT MAX(received) FROM events").fetchone()[0]
        body = {"backup": str(backup), "last_received": last, "moved_aside": [str(m) for m in moved]}
        with conn:
            conn.execute(
                "INSERT INTO events (id, station, seq, type, at, received, actor, body) VALUES (?, NULL, NULL, 'store_restored', ?, ?, 'restore', ?)",
                (f"store_restored-{secrets.token_hex(8)}", now, now, json.dumps(body)),
            )
    finally:
        conn.close()
    return Restored(store, events, stations, last, moved)
