"""``espace-sim demo`` (what ``make demo`` runs): the controller and 61 simulated stations on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import urllib.request
from pathlib import Path

from tests.support.procs import _spawn, free_port, wait_for


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


async def test_the_demo_runs_the_controller_with_61_stations_on_loopback(tmp_path: Path):
    port, log = free_port(), tmp_path / "demo.log"
    proc = _spawn([sys.executable, "-m", "sim", "demo", "--port", str(port), "--database", str(tmp_path / "demo.db")], log)
    try:
        await wait_for(lambda: (_health(port) or {}).get("stations_connected") == 61, 120, "61 stations connected")
        out = log.read_text()
        assert f"http://127.0.0.1:{port}/" in out
        assert "staff login: steward /" in out
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.to_thread(proc.wait, 60)
        assert rc == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
