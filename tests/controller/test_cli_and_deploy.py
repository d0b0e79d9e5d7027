"""The commands a newcomer and IT meet: documented, and the deploy files in step with the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# ------------------------------------------------- every command line a person or a unit runs


def _parsers() -> dict[str, object]:
    from agent.cli import build_parser as agent_parser

    return {"espace-agent": agent_parser(), "espace-controller": controller_parser()}


def _parse_error(prog: str, argv: list[str]) -> str | None:
    """None when ``prog``'s own argparse parser accepts ``argv``; else what it said."""
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _parsers()[prog].parse_args(argv)  # type: ignore[attr-defined]
    except SystemExit as exc:
        if exc.code:
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"
    return None


# the program at a command's position: a line's or cell's start, or after && ; || $( sudo, with any path
_PROG = re.compile(r"(?:^|&&|;|\|\||\$\(|\bsudo|-c ')\s*(?:[\w.~-]*/)*(espace-(?:agent|controller))(?:\.exe)?(?![\w.-])((?:[ \t]+[^\s&;|<>`'\"]+)*)")


def _commands_in(text: str) -> list[tuple[str, list[str]]]:
    """``(program, argv)`` for each espace-agent / espace-controller command line in ``text``."""
    text = re.sub(r"\\\n\s*", " ", text)  # shell line continuations
    text = re.sub(r"\$\([^)]*\)", "X", text)  # $(date ...): one word
    text = text.replace("\\|", "¦")  # a Markdown table's escaped |: alternatives
    out = []
    for m in _PROG.finditer(text):
        argv = []
        for word in m.group(2).split():
            word = word.strip("[]").split("¦")[0]  # [--optional x] and a|b|c: the first choice
            argv.append("x" if word == "…" else word)
        out.append((m.group(1), [a for a in argv if a]))
    return out


def _readme_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Commands in fenced code blocks and in table rows (prose that names a command is not one)."""
    found, fenced = [], False
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))  # shell line continuations
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("|"):
            cells = re.findall(r"`([^`]+)`", line) if line.startswith("|") else [re.sub(r"(^|\s)#.*", "", line)]
            for cell in cells:
                found += _commands_in(cell.strip())
    return found


def _unit_commands(path: Path) -> list[tuple[str, list[str]]]:
    key = "Exec" if path.suffix == ".desktop" else "ExecStart"
    lines = [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]
    assert lines, f"{path.name}: no {key}= line"
    return [c for line in lines for c in _commands_in(line.strip())]


PS_VALUES = {"$config": "C:/ProgramData/Espace/agent.toml", "$DataDir": "C:/ProgramData/Espace", "$agentExe": "espace-agent.exe"}


def _ps1_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Sub-command lines the installer hands to espace-agent (NSSM, New-Service, the logon task)."""
    text = re.sub(r"<#.*?#>", "", path.read_text(encoding="utf-8"), flags=re.S)
    found = []
    for line in text.splitlines():
        # only lines that hand arguments to the CLI (messages may say "run" or "service")
        if line.lstrip().startswith("#") or "agent.cli" not in line:
            continue
        for m in re.finditer(r"(?<![\w-])(service|session-ui|run|swarm)(?![\w-])((?:\s+--?[a-z][\w-]*(?:\s+(?:`\"\$\w+`\"|\$\w+|[^\s\"`|$-][^\s\"`|]*))?)*)", line):
            args = m.group(2).replace('`"', "")
            for var, value in PS_VALUES.items():
                args = args.replace(var, value)
            found.append(("espace-agent", [m.group(1), *args.split()]))
    return found


DEPLOY = ROOT / "deploy"
UNITS = sorted([*DEPLOY.rglob("*.service"), *DEPLOY.rglob("*.desktop")])
READMES = [ROOT / "README.md", *sorted(DEPLOY.rglob("README.md"))]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_unit_and_autostart_entry_runs_a_command_the_parser_accepts(path: Path) -> None:
    commands = _unit_commands(path)
    assert commands, f"{path.name} starts no espace program"
    assert [(prog, argv, _parse_error(prog, argv)) for prog, argv in commands] == [(prog, argv, None) for prog, argv in commands]


def test_the_windows_installer_runs_commands_the_parser_accepts() -> None:
    commands = _ps1_commands(DEPLOY / "station" / "install-agent.ps1")
    assert {argv[0] for _, argv in commands} >= {"service", "session-ui"}
    assert [(argv, _parse_error(prog, argv)) for prog, argv in commands] == [(argv, None) for _, argv in commands]
    # pythonw.exe runs the CLI through this import: it must exist
    from agent.cli import main

    assert callable(main)


@pytest.mark.parametrize("path", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_readme_command_parses(path: Path) -> None:
    commands = _readme_commands(path)
    assert [(prog, argv, _parse_error(prog, argv)) for prog, argv in commands] == [(prog, argv, None) for prog, argv in commands]


def test_the_readmes_show_commands_at_all() -> None:
    """The extraction itself: a README whose commands it stopped seeing would pass the test above."""
    counts = {p.relative_to(ROOT).as_posix(): len(_readme_commands(p)) for p in READMES}
    assert counts["README.md"] >= 15
    assert counts["deploy/controller/README.md"] >= 2
    assert _parse_error("espace-agent", ["session-ui", "--bogus"]) is not None  # the check can fail


# ------------------------------------------------- the CPU drop-ins (README: login flood benchmark)


def test_the_cpu_drop_ins_give_nginx_and_the_controller_cores_of_their_own(tmp_path: Path) -> None:
    import shutil

    from tests.support.systemd import cpu_affinity

    folder = DEPLOY / "controller"
    controller, nginx = cpu_affinity(folder / "cpu-controller.conf"), cpu_affinity(folder / "cpu-nginx.conf")
    assert controller
    assert nginx
    assert not controller & nginx
    readme = (folder / "README.md").read_text("utf-8")
    for name, unit in (("cpu-controller.conf", "espace-controller"), ("cpu-nginx.conf", "nginx")):
        assert f"deploy/controller/{name} /etc/systemd/system/{unit}.service.d/" in readme
        # systemd's own parser reads each drop-in beside a stand-in unit (the real ones name programs absent here)
        (tmp_path / f"{unit}.service").write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
        (tmp_path / f"{unit}.service.d").mkdir()
        shutil.copy(folder / name, tmp_path / f"{unit}.service.d" / "cpu.conf")
        analyze = shutil.which("systemd-analyze")
        if analyze:
            out = subprocess.run([analyze, "verify", str(tmp_path / f"{unit}.service")], capture_output=True, text=True, timeout=60)
            assert "cpu.conf" not in out.stdout + out.stderr, out.stdout + out.stderr
