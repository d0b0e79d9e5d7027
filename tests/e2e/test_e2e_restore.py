"""Crash -> restore last night's backup -> the stations deliver what the backup lacks (issue 18).

Three stations have events acknowledged before and after the backup; the controller is SIGKILLed
(its store's -wal and -shm stay beside it); the stations go on offline. IT then follows the restore
section of ``deploy/controller/README.md`` line by line. Afterwards every event each station still
held is in the store exactly once, the range one station no longer held (it keeps only 3
acknowledged events) is recorded as lost, the figures are the truth minus exactly that range, and
nothing looped. On the old main the stations ahead of the backup were refused ("sequence N skips
M") and reconnected for ever, and what they had had acknowledged was gone from their outboxes.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from pathlib import Path

import pytest

from controller.cli import build_parser
from tests.support.procs import AgentProc, ControllerProc, rows, shared_clock, wait_for
from tests.support.seqs import Visits, annual, assert_every_event_once, gaps, log_count, outbox

ROOT = Path(__file__).resolve().parents[2]
PER = Visits.EVENTS_PER_SESSION


def restore_steps() -> list[str]:
    text = (ROOT / "deploy/controller/README.md").read_text(encoding="utf-8")
    section = text.split("## Restoring a backup", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None, "the restore section has no command block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def newest(backups: Path) -> str:
    """What ``ls -t FOLDER | head -1`` prints."""
    return max(backups.iterdir(), key=lambda f: f.stat().st_mtime).name


async def run_step(line: str, ctl: ControllerProc, backups: Path, agents: list[AgentProc]) -> str:
    """One line of the README, on this test's controller: its store and backups folder stand for
    /var/lib/espace and /etc/espace/site.toml; systemctl stands for the service's start and stop.
    After the start, as the README's step 3 says, the stations catch up before the next step."""
    if line == "systemctl stop espace-controller":
        ctl.kill()  # it crashed already: a no-op, as on the server
        return ""
    if line == "systemctl start espace-controller":
        ctl.start()
        for a in agents:
            await a.wait_drained(within=60)
        return ""
    if line == "ls -t /var/lib/espace/backups/ | head -1":
        return newest(backups)
    words = shlex.split(line)
    assert words[0] == "/opt/espace/.venv/bin/espace-controller", f"a step this test does not know: {line}"
    args = build_parser().parse_args(words[1:])  # exactly as written, with the real parser
    assert args.config == "/etc/espace/site.toml"
    if args.command == "restore":
        assert Path(args.backup).parent == Path("/var/lib/espace/backups")
        done = ctl.cli("restore", str(backups / newest(backups)), check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout
    return ctl.cli(*words[1:words.index("--config")], check=True).stdout


@pytest.fixture
async def floor(tmp_path: Path):
    clock = shared_clock("2026-11-19T10:00", 10.0)
    ctl = ControllerProc(tmp_path, clock)
    agents: list[AgentProc] = []
    yield ctl, agents, clock
    for a in agents:
        await a.kill()
    ctl.kill()


async def test_crash_restore_the_last_backup_and_every_station_delivers_what_it_still_holds(floor, tmp_path: Path):
    ctl, agents, clock = floor
    tokens = {s: ctl.add_station(s) for s in ("PC-21", "PC-22", "PC-23")}
    ctl.start()
    keep = {"PC-22": ["--keep-acked", "3"]}  # this one keeps only 3 acknowledged events: some are lost for good
    for s, token in tokens.items():
        a = AgentProc(tmp_path, s, token, ctl.ws_url, clock, extra=keep.get(s, []))
        agents.append(a)
        await a.start()
    truth = Visits()
    backups = tmp_path / "backups"
    backups.mkdir()
    assert ctl.cli("backup", str(backups / "espace-20261118-0300.db")).returncode == 0  # an older night's
    os.utime(backups / "espace-20261118-0300.db", (1, 1))
    for a in agents:
        await wait_for(lambda a=a: a.call("status"), what="the agents' control sockets")
        await truth.sessions_on(a, 3)
    for a in agents:
        await a.wait_drained()
    assert ctl.cli("backup", str(backups / "espace-20261119-0300.db")).returncode == 0  # "last night's"
    in_backup = 3 * PER
    for a in agents:
        await truth.sessions_on(a, 4)  # acknowledged after the backup: lost with the store
    for a in agents:
        await a.wait_drained()

    refused = ctl.cli("restore", str(backups / "espace-20261119-0300.db"), check=False)
    assert refused.returncode == 1
    assert "in use by another controller" in refused.stderr  # not while the controller holds the store

    ctl.kill()  # the crash
    assert f"{ctl.db.name}-wal" in os.listdir(ctl.db.parent)  # the crashed store's WAL stays beside it
    for a in agents:
        await truth.sessions_on(a, 1)  # the floor goes on without a controller
    total = 8 * PER
    held_from = min(outbox(agents[1])["held"])
    assert in_backup + 1 < held_from <= total - PER + 1  # PC-22 let go of some events the lost store had

    log_before = len(ctl.log.read_text(errors="replace"))
    outputs = [await run_step(line, ctl, backups, agents) for line in restore_steps()]

    listed = next(o for o in outputs if "PC-22" in o)
    assert f"lost={held_from - in_backup - 1}" in listed.split("PC-22", 1)[1].splitlines()[0]
    for a in (agents[0], agents[2]):
        assert_every_event_once(ctl.db, a.station, {outbox(a)["incarnation"]: total}, truth)
        assert gaps(ctl.db, a.station) == []
    pc22 = agents[1]
    assert gaps(ctl.db, "PC-22") == [(in_backup + 1, held_from - 1)]  # exactly what no one holds any more
    assert_every_event_once(ctl.db, "PC-22", {outbox(pc22)["incarnation"]: total}, truth, lost=held_from - in_backup - 1)
    # the figures: the truth, less the visits whose start was in the lost range
    lost_visits = len([v for v in range(8) if in_backup < v * PER + 1 < held_from])
    stored = rows(ctl.db, "SELECT COUNT(*) AS n, SUM(end IS NULL) AS open FROM sessions WHERE station = 'PC-22'")[0]
    assert (stored["n"], stored["open"]) == (8 - lost_visits, 0)
    figures = annual(ctl)
    assert int(figures["Sessions on PCs"]) == sum(truth.sessions.values()) - lost_visits

    # nothing looped: each station connected once after the restore, and nothing was refused as a gap
    after = ctl.log.read_text(errors="replace")[log_before:]
    for a in agents:
        assert after.count(f"{a.station}@127.0.0.1: connected") == 1, a.station
        assert log_count(a.log, "asks for earlier events") == 0
    assert "skips" not in after
    assert "malformed" not in after
    assert glob.glob(f"{ctl.db}.before-restore-*-wal")  # the crashed WAL is kept, set aside
    assert rows(ctl.db, "SELECT COUNT(*) AS n FROM events WHERE type = 'store_restored'")[0]["n"] == 1
