from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, build_probes, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_configuration_loads():
    cfg = load_config(ROOT / "deploy/station/agent.sample.toml")
    assert cfg.station_id == "PC-12"
    assert cfg.controller.discover
    assert cfg.wipe.user == "visitor"
    assert "/home/visitor/Downloads" in cfg.wipe.roots


def test_bad_keys_and_values_are_named(tmp_path):
    f = tmp_path / "a.toml"
    f.write_text("[agent]\nheartbeat_seconds = 'often'\n")
    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        load_config(f)
    f.write_text("[agent]\nheartbeat = 3\n")
    with pytest.raises(ConfigError, match="heartbeat"):
        load_config(f)
    f.write_text("[controller]\ndiscover = false\n")
    with pytest.raises(ConfigError, match="give a url"):
        load_config(f)


def test_probes_follow_the_configuration(tmp_path):
    home = tmp_path / "visitor"
    (home / "Downloads").mkdir(parents=True)
    f = tmp_path / "a.toml"
    f.write_text(
        f'[controller]\nurl = "ws://127.0.0.1:1/ws/agent"\n[wipe]\nroots = ["{home / "Downloads"}"]\nuser = "nobody"\n'
        f'[print]\nsource = "cups"\npage_log = "{tmp_path / "page_log"}"\n[health]\ndisk_path = "{tmp_path}"\n'
    )
    probes = build_probes(load_config(f))
    assert type(probes.prints).__name__ == "CupsPageLogTailer"
    assert type(probes.reset).__name__ == "WipeReset"
    assert type(probes.print_gate).__name__ == "CupsPrintGate"
    assert probes.health.read().disk_free_mb > 0
    assert probes.idle.idle_seconds() == 0  # no session process has reported yet: never idle
