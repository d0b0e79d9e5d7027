"""A store is opened only if it is the right one, as an IT team meets the cases: the real ``espace-controller``.

Each case runs the command as the unit runs it and expects one line on stderr
(``error: ...``), no traceback and a non-zero exit; on the main branch of
2026-12-01 a zero-byte file became a new empty store (rc 0), a missing folder was
created, a newer schema ran without a word, a non-database ended in a traceback,
two controllers served one store, and ``backup`` of a mistyped path "backed up"
a new empty store.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller import cli
from controller.store import Store
from controller.store.schema import MIGRATIONS
from tests.support.procs import ROOT, ControllerProc, free_port, shared_clock


def serve(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``espace-controller serve`` as its own process: a refused store exits at once; one that opened would serve until the timeout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "controller.cli", "serve", "--database", str(db), "--port", str(free_port()), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def controller(*argv: str) -> subprocess.CompletedProcess[str]:
    """A one-shot command (they never serve), run in this process through the CLI's own parser and error handling."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.run(cli.build_parser().parse_args(argv))
    return subprocess.CompletedProcess(list(argv), rc, out.getvalue(), err.getvalue())


def refused_in_one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def a_store(path: Path) -> Path:
    done = controller("station", "add", "PC-01", "--database", str(path))
    assert done.returncode == 0, done.stderr
    return path


def test_a_zero_byte_file_is_refused_and_stays_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "espace.db"
    db.touch()
    refused_in_one_line(serve(db), "empty file", str(db))
    assert db.stat().st_size == 0  # not turned into a new empty store


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "espace.db"
    db.write_text("[site]\nname = 'not a store'\n")
    refused_in_one_line(controller("station", "list", "--database", str(db)), "not an SQLite database")


def test_a_truncated_store_is_refused(tmp_path: Path) -> None:
    db = a_store(tmp_path / "espace.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2 + 100])
    refused_in_one_line(controller("station", "list", "--database", str(db)), "truncated")


def test_a_missing_folder_is_refused_unless_create(tmp_path: Path) -> None:
    db = tmp_path / "srv" / "espace" / "espace.db"
    refused_in_one_line(serve(db), "does not exist", "--create")
    refused_in_one_line(controller("station", "list", "--database", str(db)), "does not exist")
    assert not db.parent.exists()
    a_folder = tmp_path / "espace.db"
    a_folder.mkdir()
    refused_in_one_line(controller("station", "list", "--database", str(a_folder)), "is a folder")


def test_serve_create_makes_the_folder_of_a_new_store(tmp_path: Path) -> None:
    ctl = ControllerProc(tmp_path, shared_clock())
    ctl.db = tmp_path / "new" / "espace.db"
    # ControllerProc.start has no room for --create: spawn it as an operator would, and wait for /healthz
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "serve", "--database", str(ctl.db), "--port", str(ctl.port), "--create"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert ctl.get("/healthz")["ok"] is True
                break
            except OSError:
                assert proc.poll() is None, "the controller exited"
                assert time.monotonic() < deadline, "the controller did not come up"
                time.sleep(0.05)
        assert ctl.db.exists()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    db = a_store(tmp_path / "espace.db")
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    con.commit()
    con.close()
    line = refused_in_one_line(serve(db), "newer than this controller")
    assert f"version {len(MIGRATIONS) + 1}" in line


def test_a_read_only_store_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only filesystem (root writes through file modes)")
    where = tmp_path / "ro"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        db = a_store(where / "espace.db")
        assert subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True).returncode == 0
        refused_in_one_line(serve(db), "read-only")
        # a backup still reads it
        done = controller("backup", "--database", str(db), str(tmp_path / "copy.db"))
        assert done.returncode == 0, done.stderr
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def test_a_second_controller_on_the_same_store_is_refused(tmp_path: Path) -> None:
    ctl = ControllerProc(tmp_path, shared_clock())
    ctl.start()
    try:
        line = refused_in_one_line(serve(ctl.db), "in use by another controller")
        assert f"pid {ctl.proc.pid}" in line
        assert "lock" in line
        assert ctl.get("/healthz")["ok"] is True  # the first one is untouched
        # the one-shot commands still work beside it
        assert ctl.cli("station", "list").returncode == 0
    finally:
        ctl.kill()
    # the kernel let the lock go with the process (SIGKILL): the next controller opens it
    again = ControllerProc(tmp_path, shared_clock())
    again.start()
    again.kill()


def test_backup_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    mistyped = tmp_path / "espace.bd"
    refused_in_one_line(controller("backup", "--database", str(mistyped), str(tmp_path / "b.db")), "no store at")
    assert not mistyped.exists()
    assert not (tmp_path / "b.db").exists()


def test_a_backup_is_complete_and_checked_before_it_has_its_name(tmp_path: Path) -> None:
    db = a_store(tmp_path / "espace.db")
    dest = tmp_path / "backups" / "espace-1.db"
    dest.parent.mkdir()
    done = controller("backup", "--database", str(db), str(dest))
    assert done.returncode == 0, done.stderr
    assert "checked" in done.stdout
    assert sorted(p.name for p in dest.parent.iterdir()) == ["espace-1.db"]  # no partial file left beside it
    con = sqlite3.connect(dest)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT COUNT(*) FROM stations WHERE token_hash IS NOT NULL").fetchone() == (1,)
    con.close()
    # a copy that does not check never takes the name: a destination folder that cannot hold it fails cleanly
    done = controller("backup", "--database", str(db), str(tmp_path / "nowhere" / "b.db"))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "nowhere").exists()


async def test_the_wal_stays_under_its_limit(tmp_path: Path) -> None:
    limit = 256 * 1024
    store = Store(tmp_path / "espace.db", wal_limit=limit)
    await store.open()
    try:
        blob = "x" * 20_000
        wal, largest = tmp_path / "espace.db-wal", 0
        for i in range(300):  # 6 MB through the WAL, in many commits
            await store.write(lambda db, i=i: db.execute(
                "INSERT INTO events (id, type, at, received, body) VALUES (?, 'test', 0, 0, ?)", (f"e{i}", blob)))
            largest = max(largest, wal.stat().st_size)
        assert largest <= limit + 64 * 1024, largest  # the limit, and one commit over it at most
        assert await store.health() is None
    finally:
        await store.close()
