from __future__ import annotations

import pytest

from controller.settings import SETTINGS, SettingsError, load_settings, make_settings, sample_toml


def test_defaults_are_the_brussels_floor():
    s = make_settings()
    assert len(s.stations) == 61
    assert [x.id for x in s.stations if x.accessible] == ["PC-45", "TAB-16"]
    assert sum(1 for x in s.stations if x.kind == "tablet") == 16
    assert s.hours["thu"] == ["09:00-19:00"]
    assert "sat" not in s.hours
    assert s.session_minutes == 60
    assert s.warn_minutes == [10, 5, 1]


def test_a_toml_file_overrides_and_bad_values_name_their_key(tmp_path):
    f = tmp_path / "site.toml"
    f.write_text('session_minutes = 45\n[[stations]]\nid = "PC-01"\nkind = "pc"\n', encoding="utf-8")
    s = load_settings(f)
    assert s.session_minutes == 45
    assert [x.id for x in s.stations] == ["PC-01"]
    f.write_text('session_minutes = "long"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="session_minutes"):
        load_settings(f)
    f.write_text("session_minutes = \n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(f)
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match="timezone"):
        make_settings(timezone="Europe/Nowhere")
    with pytest.raises(SettingsError, match="kind"):
        make_settings(stations=[{"id": "X", "kind": "phone"}])
    with pytest.raises(SettingsError, match="unknown setting"):
        make_settings(sesion_minutes=3)
    for port in (-1, 65536):
        with pytest.raises(SettingsError, match="zeroconf_port: must be 0"):
            make_settings(zeroconf_port=port)
    assert make_settings(zeroconf_port=443).zeroconf_port == 443


def test_every_setting_is_documented_in_the_sample():
    text = sample_toml()
    for s in SETTINGS:
        assert f"# {s.name} = " in text
        assert s.help in text
