"""deploy/station/install-agent.ps1 is code: the command lines it registers parse with the CLI's
own parser, and the service, task, print-log and ACL steps say what the agent relies on.

No PowerShell here: the script's strings are expanded the way PowerShell expands them (a
backtick escapes the next character, ``$name`` is the variable), and the resulting command
lines are split the way Windows splits a command line (CommandLineToArgvW's rules).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.channel.windows_pipe import DEFAULT_ADDRESS
from agent.cli import build_parser
from agent.probes.print_windows import CHANNEL
from agent.winservice import SERVICE_NAME

ROOT = Path(__file__).resolve().parents[2]
PS1 = (ROOT / "deploy/station/install-agent.ps1").read_text(encoding="utf-8")
CONFIG = r"C:\ProgramData\Espace\agent.toml"


def ps_string(name: str, **variables: str) -> str:
    """The value the script assigns to ``$name``: a double-quoted string, expanded."""
    m = re.search(rf'^\s*\${name} = "((?:[^"`]|`.)*)"\s*$', PS1, re.M)
    assert m, f"${name} is not assigned a double-quoted string"
    out, text, i = [], m.group(1), 0
    while i < len(text):
        if text[i] == "`":
            out.append(text[i + 1])
            i += 2
        elif text[i] == "$":
            var = re.match(r"\$(\w+)", text[i:])
            assert var, f"${name}: a lone $ at {text[i:]!r}"
            assert var.group(1) in variables, f"${name} uses an unknown variable at {text[i:]!r}"
            out.append(variables[var.group(1)])
            i += len(var.group(0))
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def windows_argv(cmdline: str) -> list[str]:
    """Split a command line as CommandLineToArgvW does (backslashes literal unless before a quote)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = in_arg = False
    i = 0
    while i < len(cmdline):
        c = cmdline[i]
        if c == "\\":
            n = len(cmdline[i:]) - len(cmdline[i:].lstrip("\\"))
            if i + n < len(cmdline) and cmdline[i + n] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += n + 1
                else:
                    i += n
                in_arg = True
                continue
            cur.append("\\" * n)
            i += n
            in_arg = True
            continue
        if c == '"':
            quoted = not quoted
            in_arg = True
        elif c in " \t" and not quoted:
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(cur))
    return args


def test_the_service_command_line_parses_with_the_cli() -> None:
    args = windows_argv(ps_string("agentArgs", config=CONFIG))
    assert args[:2] == ["-m", "agent.cli"]
    parsed = build_parser().parse_args(args[2:])
    assert parsed.command == "service"
    assert parsed.config == CONFIG
    binary = ps_string("bin", basePython=r"C:\Program Files\Python311\python.exe", agentArgs=ps_string("agentArgs", config=CONFIG))
    assert windows_argv(binary)[0] == r"C:\Program Files\Python311\python.exe"  # quoted: the path has a space
    assert windows_argv(binary)[1:] == args


def test_the_session_ui_command_line_parses_and_finds_the_service_pipe() -> None:
    args = windows_argv(ps_string("uiArgs", config=CONFIG))
    assert args[0] == "-c"
    assert "from agent.cli import main" in args[1]
    parsed = build_parser().parse_args(args[2:])
    assert parsed.command == "session-ui"
    if getattr(parsed, "config", None):  # the pipe read from the service's own configuration
        assert parsed.config == CONFIG
    else:  # or named: the one the service serves by default
        assert parsed.control == DEFAULT_ADDRESS


def test_the_service_is_registered_to_restart_and_as_itself() -> None:
    assert f'[string] $ServiceName = "{SERVICE_NAME}"' in PS1
    assert re.search(r"sc\.exe failure \$ServiceName reset= \d+ actions= restart/\d+/restart/\d+/restart/\d+", PS1)
    assert "sc.exe failureflag $ServiceName 1" in PS1  # a stop with an error code restarts too
    assert '-Name Environment -Type MultiString -Value @("PYTHONPATH=$sitePackages")' in PS1
    assert "nssm.exe" not in PS1.split("param(")[1]  # NSSM only when asked for with -Nssm, never found on PATH


def test_the_print_log_the_agent_reads_is_enabled() -> None:
    assert f"wevtutil.exe sl {CHANNEL} /e:true" in PS1


@pytest.mark.parametrize(
    ("folder", "grants"),
    [
        ("$dir", ['"*S-1-5-18:(OI)(CI)F"', '"*S-1-5-32-544:(OI)(CI)F"', '"*S-1-5-32-545:(OI)(CI)RX"']),
        ("$stateDir", ['"*S-1-5-18:(OI)(CI)F"', '"*S-1-5-32-544:(OI)(CI)F"']),
    ],
)
def test_the_folders_acls_are_set_by_sid_without_inheritance(folder: str, grants: list[str]) -> None:
    line = next(ln for ln in PS1.splitlines() if ln.strip().startswith(f"& icacls.exe {folder} "))
    assert "/inheritance:r /grant:r" in line
    assert line.split("/grant:r", 1)[1].split("|")[0].split() == grants


def test_windows_argv_follows_the_windows_rules() -> None:
    assert windows_argv(r'a "b c" d\\e "f\"g" "h\\"') == ["a", "b c", r"d\\e", 'f"g', "h\\"]
