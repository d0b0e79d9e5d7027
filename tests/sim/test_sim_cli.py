"""``espace-sim``: every command documented, and bad input refused with a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sim.cli import build_parser, main
from sim.prepare import prepare_site, read_tokens
from tests.support.procs import ROOT, _env


def test_every_sim_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert sorted(commands) == ["demo", "prepare", "swarm"]
    assert [c for c in commands if f"`espace-sim {c} " not in readme] == []


def test_make_demo_runs_the_sim_demo():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = make.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "/bin/espace-sim demo" in demo
    assert 'espace-sim = "sim.cli:main"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_python_dash_m_sim_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout
    assert "swarm" in out.stdout
    assert "prepare" in out.stdout


def test_prepare_writes_a_site_whose_tokens_read_back(tmp_path: Path):
    config, db, tokens = prepare_site(tmp_path / "site", 63)
    assert config.is_file()
    assert db.is_file()
    assert read_tokens(tmp_path / "site" / "tokens.txt") == tokens
    assert list(tokens)[61:] == ["SIM-00062", "SIM-00063"]


def test_a_bad_tokens_file_is_refused_with_its_line(tmp_path: Path, capsys):
    bad = tmp_path / "tokens.txt"
    bad.write_text("PC-01 abc\nPC-02\n", encoding="utf-8")
    rc = main(["swarm", "--count", "2", "--url", "ws://127.0.0.1:9/ws/agent", "--tokens-file", str(bad)])
    assert rc == 2
    assert "line 2: expected 'station token'" in capsys.readouterr().err
