"""One vocabulary: the pages' JavaScript uses the names and values espace/protocol.py declares.

Close codes, languages, end reasons, grant causes and the station rules'
defaults are declared once in ``espace.protocol``; the kiosk and floor pages
carry copies (a browser cannot import Python). This reads the copies from the
pages' source and fails when one drifts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import get_args

import pytest

from espace import protocol as p

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"
KIOSK = (STATIC / "kiosk.js").read_text(encoding="utf-8")


def _js_files() -> dict[str, str]:
    return {f.name: f.read_text(encoding="utf-8") for f in sorted(STATIC.glob("*.js"))}


def test_close_codes_in_the_pages_are_the_protocols():
    named, compared = {}, []
    for name, text in _js_files().items():
        for const, value in re.findall(r"\b([A-Z][A-Z_]+) = (4\d{3})\b", text):
            named[(name, const)] = int(value)
        compared += [(name, int(v)) for v in re.findall(r"code\s*===?\s*(4\d{3})\b", text)]
    assert named, "the kiosk names its close codes"
    for (name, const), value in named.items():
        assert const in p.CloseCode.__members__, f"{name}: {const} is not an espace.protocol.CloseCode"
        assert p.CloseCode[const] == value, f"{name}: {const} = {value}, the protocol says {p.CloseCode[const].value}"
    codes = {c.value for c in p.CloseCode}
    assert [(n, v) for n, v in compared if v not in codes] == []


def test_the_kiosk_languages_are_the_protocols():
    for name in ("kiosk.js", "now-serving.js"):
        found = re.search(r"const LANGS = \[([^\]]*)\]", _js_files()[name])
        assert found is not None, name
        assert tuple(json.loads(f"[{found.group(1)}]")) == p.LANGS


def test_the_kiosk_ends_sessions_only_for_the_protocols_reasons():
    ended = set(re.findall(r"\bend\(\"([a-z_]+)\"\)", KIOSK))
    assert ended, "the kiosk ends sessions"
    assert ended <= set(p.END_REASONS)
    causes = re.search(r"const CAUSE_REASON = (\{[^}]*\})", KIOSK)
    assert causes is not None
    mapping = json.loads(re.sub(r"(\w+):", r'"\1":', causes.group(1)))
    assert set(mapping) == set(get_args(p.GrantCause))
    assert set(mapping.values()) <= set(p.END_REASONS)


def test_the_kiosk_rules_defaults_are_the_protocols():
    """The controller omits Rules fields equal to their defaults: the kiosk must fill in the same ones."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (Debian: apt install nodejs)")
    found = re.search(r"const DEFAULT_RULES = (\{.*?\});", KIOSK, flags=re.S)
    assert found is not None
    out = subprocess.run([node, "-e", f"process.stdout.write(JSON.stringify({found.group(1)}))"],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    defaults = p.Rules()
    assert json.loads(out.stdout) == {f: getattr(defaults, f) for f in p.Rules.__struct_fields__}
