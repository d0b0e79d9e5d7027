"""Agent service footprint: resident memory and CPU over a minute of idle monitoring.

A real controller process and a real ``espace-agent service`` process with its
real probes (psutil health every heartbeat, the CUPS page_log tailer, the
session channel), connected and idle, configured as the sample configuration
(discovery on, no interface named: no mDNS, zeroconf not even loaded; a station
that names its interface for mDNS loads about 3 MB more). Targets: under 40 MB
RSS, under 1 % of one core. Prints ``bench <name>: <value> <unit>`` lines.

    .venv/bin/python tests/bench/bench_agent.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.procs import ControllerProc, _env, shared_clock  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        ctl = ControllerProc(tmp, shared_clock(speed=1.0))
        ctl.start()
        token = ctl.add_station("PC-01")
        state = tmp / "agent-state"
        state.mkdir()
        (state / "token").write_text(token)
        os.chmod(state / "token", 0o600)
        (tmp / "page_log").write_text("")
        cfg = tmp / "agent.toml"
        cfg.write_text(
            f"""
[station]
id = "PC-01"
[controller]
url = "{ctl.ws_url}"
discover = true
interfaces = []
[agent]
state_dir = "{state}"
heartbeat_seconds = 10
control_socket = "{tmp / 'control.sock'}"
[wipe]
roots = []
user = ""
[print]
source = "cups"
page_log = "{tmp / 'page_log'}"
[health]
disk_path = "{tmp}"
""",
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "service", "--config", str(cfg)],
            env=_env(), stdout=subprocess.DEVNULL, stderr=open(tmp / "agent.log", "wb"), start_new_session=True,  # noqa: SIM115
        )
        try:
            deadline = time.monotonic() + 30
            while "PC-01@127.0.0.1: connected" not in ctl.log.read_text():
                if time.monotonic() > deadline or proc.poll() is not None:
                    print((tmp / "agent.log").read_text()[-2000:], file=sys.stderr)
                    raise SystemExit("the agent service did not connect")
                time.sleep(0.1)
            p = psutil.Process(proc.pid)
            time.sleep(2)  # past start-up
            t0, c0 = time.monotonic(), p.cpu_times()
            peak = 0
            while time.monotonic() - t0 < args.seconds:
                peak = max(peak, p.memory_info().rss)
                time.sleep(1)
            c1, t1 = p.cpu_times(), time.monotonic()
            cpu = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0) * 100
            print(f"bench agent_service_rss: {p.memory_info().rss / 2**20:.1f} MB")
            print(f"bench agent_service_rss_peak: {peak / 2**20:.1f} MB")
            print(f"bench agent_service_cpu_idle: {cpu:.2f} % of one core (over {t1 - t0:.0f} s)")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
            ctl.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
