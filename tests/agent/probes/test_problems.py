"""A station that cannot count prints or measure idleness says so, up to the floor's view."""

from __future__ import annotations

from pathlib import Path

import msgspec

from agent.core import Probes
from agent.probes.problems import probe_problems
from agent.probes.reported import ReportedIdle
from controller.floor.state import StationLive, view
from controller.settings import StationSpec
from espace import protocol as p
from espace.cupslog import PageLogTailer

DEBIAN_CUPSD_CONF = Path(__file__).resolve().parents[2] / "espace" / "page_log" / "debian-12-shipped" / "cupsd.conf"


def test_debian_cups_and_a_screen_without_idle_probe_are_two_problems_on_the_floor(tmp_path: Path) -> None:
    idle = ReportedIdle()
    with PageLogTailer(tmp_path / "page_log", cupsd_conf=DEBIAN_CUPSD_CONF) as prints:
        probes = Probes(idle=idle, prints=prints)
        assert probe_problems(probes) == [f"print_log_off: {prints.problem}"]
        idle.report_problem("X11IdleError: cannot open X display ':0'")
        problems = probe_problems(probes)
    assert [x.split(":")[0] for x in problems] == ["print_log_off", "idle_source"]
    # on the wire with the health, and in what the dashboard gets
    health = p.Health(cpu_percent=3.0, problems=problems)
    hb = msgspec.json.decode(p.encode(p.Heartbeat(idle_s=0, health=health)), type=p.Heartbeat)
    assert hb.health is not None
    live = StationLive(spec=StationSpec(id="PC-21", kind="pc"), health=hb.health)
    assert view(live, 0.0).as_dict()["problems"] == problems
    idle.report(2.0)  # the screen measures again: that problem is gone
    assert [x.split(":")[0] for x in probe_problems(Probes(idle=idle))] == []
