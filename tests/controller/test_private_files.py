"""Key files, the store and its backups are private, whatever was there before and whatever the umask;
the deploy files say so too (issue 13)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from controller.store import Store
from tests.support.procs import ROOT, _env

DEPLOY = ROOT / "deploy" / "controller"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_tls_init_force_over_a_readable_key_leaves_it_0600(tmp_path: Path) -> None:
    """Main kept the old file's mode: 0644 stayed 0644 while the command printed "mode 0600"."""
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    key.write_text("old key")
    key.chmod(0o644)
    done = cli("tls", "init", "--cert", str(cert), "--key", str(key), "--force")
    assert done.returncode == 0, done.stderr
    assert mode(key) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_tls_init_force_does_not_write_through_a_symlink(tmp_path: Path) -> None:
    """Main opened the key path with O_TRUNC and followed a link planted there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not yours")
    elsewhere.chmod(0o644)
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    key.symlink_to(elsewhere)
    done = cli("tls", "init", "--cert", str(cert), "--key", str(key), "--force")
    assert done.returncode == 0, done.stderr
    assert elsewhere.read_text() == "not yours"
    assert mode(elsewhere) == 0o644
    assert not key.is_symlink()
    assert mode(key) == 0o600


async def test_the_store_is_created_0600_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "espace.db")
        await store.open()
        await store.write(lambda db: db.execute("SELECT 1"))
        await store.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "espace.db") == 0o600
    for side in ("espace.db-wal", "espace.db-shm"):
        if (tmp_path / side).exists():
            assert mode(tmp_path / side) == 0o600


async def test_a_backup_is_created_0600(tmp_path: Path) -> None:
    store = Store(tmp_path / "espace.db")
    await store.open()
    await store.close()
    old = os.umask(0o022)
    try:
        done = cli("backup", "--database", str(tmp_path / "espace.db"), str(tmp_path / "backup.db"))
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "backup.db") == 0o600


def test_the_units_set_a_private_umask() -> None:
    for unit in ("espace-controller.service", "espace-backup.service"):
        text = (DEPLOY / unit).read_text()
        service = text.split("[Service]", 1)[1].split("\n[", 1)[0]
        assert re.search(r"^UMask=0077$", service, re.M), unit


def test_the_proxy_passes_host_and_forwarded_headers_on_every_location() -> None:
    """Main's ``location ~ ^/ws/`` passed no Host: /ws/floor answered 403 behind it."""
    conf = (DEPLOY / "nginx-espace.conf").read_text()
    locations = re.findall(r"^\s*location\s[^{\n]*\{([^}]*)\}", conf, flags=re.M)
    assert len(locations) == 3  # /, /login (rate-limited per client), /ws/
    assert any("limit_req zone=espace_login" in body for body in locations)
    for body in locations:
        headers = dict(re.findall(r"proxy_set_header\s+(\S+)\s+(.+?);", body))
        assert headers.get("Host") == "$http_host"  # with the port the browser used: its Origin matches
        assert headers.get("X-Forwarded-For") == "$proxy_add_x_forwarded_for"
        assert headers.get("X-Forwarded-Proto") in ("$scheme", "https")
