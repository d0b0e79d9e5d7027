"""The grant vectors (espace/grant_vectors.json), run against every implementation of the rule.

Python: ``espace.grant`` (what the controller's walk-up rule, its booking
sessions, a steward's "open", the extension button and the station alone use)
and ``controller.rules.decide_grant`` on top of it. JavaScript: the kiosk's
``dashboard/static/grant.js``, in node. The file holds the cases where the
older copies disagreed (a 60-second minimum against 5 minutes, strict ``<``
against ``<=`` at a tie, no minimum at all for a steward's "open").
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from controller.rules import Grant, decide_grant
from espace import protocol as p
from espace.grant import Cut, Extension, decide_extension, grant_end, local_grant

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "espace" / "grant_vectors.json").read_text(encoding="utf-8"))
GRANT_JS = ROOT / "dashboard" / "static" / "grant.js"


def _cut(c: Cut | None) -> dict[str, Any] | None:
    return None if c is None else {"end": c.end, "cause": c.cause, "label": c.label}


def _booking(v: dict[str, Any]) -> tuple[float, str] | None:
    return None if v["next_booking"] is None else (v["next_booking"][0], v["next_booking"][1])


def _ids(section: str) -> list[str]:
    return [v["why"] for v in VECTORS[section]]


def test_the_file_holds_the_cases_where_the_old_copies_disagreed():
    before = [v for s in ("grant_end", "local_grant") for v in VECTORS[s] if "before" in v]
    assert len(before) >= 10
    kinds = " ".join(v["why"] for v in before)
    for edge in ("tie", "minimum", "minutes before"):
        assert edge in kinds


@pytest.mark.parametrize("v", VECTORS["grant_end"], ids=_ids("grant_end"))
def test_grant_end(v: dict[str, Any]):
    got = grant_end(v["now"], v["length_end"], closing=v["closing"], next_booking=_booking(v), min_minutes=v["min_minutes"])
    assert _cut(got) == v["expect"]


@dataclass
class _Hours:
    """The two answers decide_grant asks of the opening hours, fixed by the vector."""

    closing: float

    def closing_after(self, now: float) -> float:
        return self.closing

    def next_opening(self, now: float) -> float:
        return self.closing + 15 * 3600


@pytest.mark.parametrize("v", [v for v in VECTORS["grant_end"] if v["closing"] is not None and (v["length_end"] - v["now"]) % 60 == 0
                               and (v["next_booking"] is None or v["next_booking"][0] > v["now"])], ids=str)
def test_the_controllers_walkup_rule_gives_the_same_grant(v: dict[str, Any]):
    got = decide_grant(
        v["now"], "PC-01", session_minutes=(v["length_end"] - v["now"]) / 60, hours=_Hours(v["closing"]),  # type: ignore[arg-type]
        next_booking=_booking(v), reserved_for=None, locked=False, busy=False, min_minutes=v["min_minutes"],
    )  # fmt: skip
    if v["expect"] is None:
        assert not isinstance(got, Grant)
        assert got.reason == "no_time"
    else:
        assert isinstance(got, Grant)
        assert {"end": got.end, "cause": got.cause, "label": got.label} == v["expect"]


@pytest.mark.parametrize("v", VECTORS["local_grant"], ids=_ids("local_grant"))
def test_local_grant(v: dict[str, Any]):
    rules = None if v["rules"] is None else msgspec.convert(v["rules"], p.Rules)  # as the wire gives them
    assert _cut(local_grant(rules, v["now"])) == v["expect"]


@pytest.mark.parametrize("v", VECTORS["extension"], ids=_ids("extension"))
def test_extension(v: dict[str, Any]):
    args = {k: v[k] for k in ("extensions_done", "max_extensions", "extension_minutes", "queue_waiting",
                              "next_booking_start", "closing", "override")}  # fmt: skip
    got = decide_extension(v["now"], v["session_end"], **args)
    if isinstance(got, Extension):
        assert {"end": got.end, "bypassed": list(got.bypassed)} == v["expect"]
    else:
        assert {"refused": got.reason} == v["expect"]


NODE = """
const g = require(process.argv[1]);
const v = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const out = {
  grant_end: v.grant_end.map((c) => g.grantEnd(c.now, c.length_end, c.closing, c.next_booking, c.min_minutes)),
  local_grant: v.local_grant.map((c) => g.localGrant(c.rules, c.now)),
};
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def js_results() -> dict[str, list[Any]]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (Debian: apt install nodejs)")
    out = subprocess.run([node, "-e", NODE, str(GRANT_JS), str(ROOT / "espace" / "grant_vectors.json")],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.parametrize("section", ["grant_end", "local_grant"])
def test_the_kiosk_javascript_passes_the_same_file(js_results: dict[str, list[Any]], section: str):
    wrong = [(v["why"], got, v["expect"]) for v, got in zip(VECTORS[section], js_results[section], strict=True) if got != v["expect"]]
    assert wrong == []
    assert len(js_results[section]) == len(VECTORS[section])
