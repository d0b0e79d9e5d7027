"""``espace-controller restore``: what it refuses (with one line, nothing changed) and what it keeps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from controller.cli import build_parser
from controller.store import Store
from controller.store.schema import MIGRATIONS


async def _store(path: Path) -> None:
    store = Store(path)
    await store.open()
    await store.write(lambda db: db.execute("INSERT INTO stations (id, kind, created) VALUES ('PC-01', 'pc', 1)"))
    await store.close()


def _restore(backup: Path, db: Path, capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(["restore", str(backup), "--database", str(db)])
    rc = args.func(args)  # the command as the CLI runs it (without its logging set-up, which pytest captures)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_backup_goes_into_place_and_the_crashed_files_are_kept_aside(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    backup, db = tmp_path / "backup.db", tmp_path / "espace.db"
    asyncio.run(_store(backup))
    db.write_bytes(b"the crashed store")
    Path(f"{db}-wal").write_bytes(b"a stale WAL")
    Path(f"{db}-shm").write_bytes(b"a stale SHM")
    rc, out, err = _restore(backup, db, capsys)
    assert (rc, err) == (0, "")
    assert "restored" in out
    assert not Path(f"{db}-wal").exists()
    assert not Path(f"{db}-shm").exists()
    kept = sorted(p.name for p in tmp_path.glob("espace.db.before-restore-*"))
    assert [k.rsplit("-", 1)[-1] if k.endswith(("wal", "shm")) else "db" for k in kept] == ["db", "shm", "wal"]
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT id FROM stations").fetchall() == [("PC-01",)]
        assert conn.execute("SELECT COUNT(*) FROM events WHERE type = 'store_restored'").fetchone()[0] == 1
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("backup")) == ["backup.db"]  # nothing left beside it


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(b"not a database at all" * 100), "not a usable SQLite file"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.commit(), "not a store of this controller"),
    ],
)
def test_a_bad_backup_is_refused_with_one_line_and_the_store_untouched(tmp_path: Path, capsys, make, says) -> None:  # type: ignore[no-untyped-def]
    backup, db = tmp_path / "backup.db", tmp_path / "espace.db"
    asyncio.run(_store(db))
    before = db.read_bytes()
    make(backup)
    rc, _, err = _restore(backup, db, capsys)
    assert rc == 1
    assert says in err
    assert len(err.strip().splitlines()) == 1
    assert db.read_bytes() == before


def test_a_backup_from_a_newer_version_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    backup, db = tmp_path / "backup.db", tmp_path / "espace.db"
    asyncio.run(_store(backup))
    conn = sqlite3.connect(backup)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    rc, _, err = _restore(backup, db, capsys)
    assert rc == 1
    assert "made by a newer version" in err
    assert not db.exists()


def test_restore_refuses_while_another_process_has_the_store_open(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    backup, db = tmp_path / "backup.db", tmp_path / "espace.db"
    asyncio.run(_store(backup))
    asyncio.run(_store(db))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3, sys; c = sqlite3.connect({str(db)!r}); c.execute('PRAGMA journal_mode=WAL');"
         " c.execute('SELECT 1 FROM stations').fetchall(); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        rc, _, err = _restore(backup, db, capsys)
        assert rc == 1
        assert "open in another process" in err
    finally:
        holder.communicate("", timeout=30)
    rc, _, err = _restore(backup, db, capsys)  # once it has closed the store
    assert (rc, err) == (0, "")
