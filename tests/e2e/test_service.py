"""``espace-agent service --config``: the real station service against the real controller.

The service as systemd runs it: its TOML configuration, the token file, the
control socket the session screen uses, the CUPS page_log tailer, the reset of
the visitor's folders, psutil health. A session is started and ended through
the control socket as the session screen does; a print in the page_log is
counted on it; the folders are wiped at its end. The service runs aiohttp's
pure-Python code (its small-footprint mode), which this test also checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from agent.control import ControlClient
from espace.clock import SystemClock
from tests.support.procs import ControllerProc, _spawn, wait_for

ALL_DAY = "{" + ", ".join(f'{d} = ["00:00-23:59"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "}"


async def test_the_station_service_runs_a_session_counts_a_print_and_wipes_the_folders(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f"hours = {ALL_DAY}\n", encoding="utf-8")
    ctl = ControllerProc(tmp_path, SystemClock(), config=site)  # the service runs on the wall clock, so the controller does too
    await asyncio.to_thread(ctl.start)
    token = await asyncio.to_thread(ctl.add_station, "PC-07")
    state = tmp_path / "state"
    state.mkdir()
    (state / "token").write_text(token)
    os.chmod(state / "token", 0o600)
    page_log = tmp_path / "page_log"
    page_log.write_text("")
    downloads = tmp_path / "visitor" / "Downloads"
    downloads.mkdir(parents=True)
    outside = tmp_path / "precious.txt"
    outside.write_text("not the visitor's")
    sock = tmp_path / "control.sock"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f"""
[station]
id = "PC-07"
[controller]
url = "{ctl.ws_url}"
discover = false
[agent]
state_dir = "{state}"
heartbeat_seconds = 2
control_socket = "{sock}"
[wipe]
roots = ["{downloads}"]
user = ""
[print]
source = "cups"
page_log = "{page_log}"
[health]
disk_path = "{tmp_path}"
""",
        encoding="utf-8",
    )
    log = tmp_path / "service.log"
    proc = await asyncio.to_thread(_spawn, [sys.executable, "-m", "agent.cli", "service", "--config", str(cfg)], log)
    client: ControlClient | None = None
    try:
        async def connected() -> bool:
            nonlocal client
            if proc.poll() is not None:
                raise AssertionError(f"the service exited: {log.read_text()[-2000:]}")
            if client is None:
                with contextlib.suppress(OSError):
                    client = await ControlClient.connect(sock)
                return False
            return (await client.call("status"))["connected"]

        await wait_for(connected, within=30, what="the service to connect")
        assert client is not None
        maps = await asyncio.to_thread(Path(f"/proc/{proc.pid}/maps").read_text)
        assert "aiohttp/_http_parser" not in maps  # the small-footprint mode: no C parser loaded

        started = await client.call("start", lang="nl")
        assert started["ok"], started
        (downloads / "cv.pdf").write_text("my CV")
        (downloads / "escape").symlink_to(outside)
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        with page_log.open("a") as f:
            f.write(f'VirtualPDF visitor 31 [{stamp}] total 3 - localhost "CV [final]" A4 one-sided\n')

        def pages() -> list:
            return ctl.rows("SELECT pages, session_id FROM print_jobs WHERE station = 'PC-07'")

        (job,) = await wait_for(pages, within=20, what="the print counted")
        assert job["pages"] == 3
        assert job["session_id"] == started["session_id"]

        await client.call("end")

        def reset() -> list:
            return ctl.rows("SELECT body FROM events WHERE station = 'PC-07' AND type = 'station_reset'")

        await wait_for(reset, within=20, what="the reset reported")
        (session,) = ctl.rows("SELECT end_reason, pages_bw, lang FROM sessions WHERE station = 'PC-07'")
        assert (session["end_reason"], session["pages_bw"], session["lang"]) == ("visitor", 3, "nl")
        assert list(downloads.iterdir()) == []  # the visitor's files and the link are gone
        assert outside.read_text() == "not the visitor's"  # the link's target is untouched
        health = ctl.rows("SELECT COUNT(*) AS n FROM events WHERE station = 'PC-07'")[0]["n"]
        assert health >= 3  # started, print, ended (+ reset)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 10)
        ctl.kill()
