"""``espace-sim prepare`` and ``espace-sim swarm``: N simulated stations from one process, against the real controller.

The swarm speaks the real protocol (the real Agent class, fake probes, an
accelerated clock). What it says it did — its stats, the simulation's ground
truth — must be exactly what the controller stored once it has stopped.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.procs import ROOT, ControllerProc, _env, shared_clock

COUNT = 40


def _scalar(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


async def test_the_swarm_cli_runs_n_stations_and_the_store_matches_what_it_did(tmp_path: Path):
    site = tmp_path / "site"
    prep = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sim", "prepare", "--count", str(COUNT), str(site)],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120, check=True,
    )  # fmt: skip
    assert "tokens:" in prep.stdout
    tokens = (site / "tokens.txt").read_text().split("\n")
    assert len([t for t in tokens if t.strip()]) == COUNT

    clock = shared_clock(speed=120.0)  # a virtual hour in 30 real seconds
    ctl = ControllerProc(tmp_path, clock, config=site / "site.toml")
    ctl.db = site / "controller.db"
    await asyncio.to_thread(ctl.start)
    stats_file = tmp_path / "stats.json"
    try:
        swarm = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sim", "swarm", "--count", str(COUNT), "--url", ctl.ws_url,
            "--tokens-file", str(site / "tokens.txt"), "--clock", clock.spec(), "--duration", "12",
            "--gap-minutes", "3", "--heartbeat", "2", "--seed", "7", "--stats-file", str(stats_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(), cwd=ROOT,
        )  # fmt: skip
        out, err = await asyncio.wait_for(swarm.communicate(), 120)
        assert swarm.returncode == 0, err.decode()[-2000:]
        stats = json.loads(out.decode().strip().splitlines()[-1])
        db = ctl.db
        assert stats["stations"] == COUNT
        assert stats["sessions_started"] > COUNT // 2  # the visitors came
        assert stats["sessions_offline"] == 0  # the controller was there all along
        assert stats["prints"] > 0
        assert stats["helps"] > 0
        # nothing lost, nothing twice: the swarm drained its outboxes before stopping
        assert stats["acked"] == stats["emitted"]
        assert _scalar(db, "SELECT COUNT(*) FROM events") == stats["emitted"]
        assert _scalar(db, "SELECT COUNT(*) FROM sessions") == stats["sessions_started"]
        assert _scalar(db, "SELECT COUNT(*) FROM print_jobs") == stats["prints"]
        assert _scalar(db, "SELECT COALESCE(SUM(pages), 0) FROM print_jobs") == stats["pages"]
        assert _scalar(db, "SELECT COUNT(*) FROM events WHERE type = 'help_requested'") == stats["helps"]
        # every station's events are 1..last_seq with no gap
        assert _scalar(db, "SELECT COUNT(*) FROM (SELECT station, COUNT(*) AS n, MAX(seq) AS m FROM events GROUP BY station HAVING n != m)") == 0
        assert json.loads(stats_file.read_text())["stations"] == COUNT
    finally:
        ctl.kill()
