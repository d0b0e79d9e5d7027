"""The commands a newcomer and IT meet: documented, and the deploy files in step with the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from controller.cli import build_parser as controller_parser

ROOT = Path(__file__).resolve().parents[2]


def _subcommands(parser) -> list[str]:
    names = []
    for action in parser._subparsers._group_actions:  # argparse keeps them here
        for name, sub in action.choices.items():
            inner = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            if inner:
                names += [f"{name} {n}" for n in inner[0].choices]
            else:
                names.append(name)
    return names


def test_every_controller_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _subcommands(controller_parser()) if f"espace-controller {c}" not in readme]
    assert missing == []


def test_every_agent_command_is_in_the_readme():
    from agent.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _subcommands(build_parser()) if f"espace-agent {c}" not in readme]
    assert missing == []


def test_the_readme_first_screen_gives_the_two_commands():
    first = (ROOT / "README.md").read_text(encoding="utf-8").split("---")[0]
    assert re.findall(r"^make (\w+)", first, flags=re.M) == ["demo", "test"]


def test_json_logs_are_one_object_per_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "controller.cli", "--log-format", "json", "station", "list", "--database", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    assert lines
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])


def test_the_controller_unit_runs_a_real_subcommand():
    unit = (ROOT / "deploy/controller/espace-controller.service").read_text()
    cmd = re.search(r"^ExecStart=\S+/espace-controller (.*)$", unit, flags=re.M).group(1).split()
    args = controller_parser().parse_args(cmd)
    assert args.command == "serve"
    assert args.log_format == "json"
