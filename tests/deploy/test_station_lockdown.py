"""The desktop lock-down the station install sets (deploy/station/lockdown/, README "Locking the desktop").

Debian: the openbox configuration is walked for any binding that starts a program, closes,
cycles, lowers or iconifies a window, changes desktop or shows a menu; then openbox runs with it
under Xvfb and the keys are pressed on a real window (Debian's own rc.xml is the control: there
Alt+F4 closes it). The Xorg, sysctl and systemd snippets are text (Xvfb reads no xorg.conf.d and
there is no systemd here). Windows: the policy list is one file that the README's table and the
installer agree with (PowerShell cannot run here). The README's new Debian lines parse as sh.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.display import XVFB, xvfb

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "deploy" / "station"
LOCKDOWN = STATION / "lockdown"
RC = LOCKDOWN / "rc.xml"
README = (STATION / "README.md").read_text(encoding="utf-8")
NS = "{http://openbox.org/3.4/rc}"
DEBIAN_RC = Path("/etc/xdg/openbox/rc.xml")

# What a visitor's binding may do: focus, raise, move, resize, maximize. Anything else
# (Execute, Close, Kill, NextWindow, Lower, Iconify, ShowMenu, GoToDesktop, Exit, Restart...) is out.
ALLOWED_ACTIONS = {
    "Focus",
    "Raise",
    "Unshade",
    "Move",
    "Resize",
    "ToggleMaximize",
    "Maximize",
    "Unmaximize",
}


def actions(element: ET.Element) -> list[str]:
    return [a.get("name", "") for a in element.iter(f"{NS}action")]


def test_the_openbox_config_is_openbox_xml_without_keys_menus_or_closing() -> None:
    root = ET.parse(RC).getroot()
    assert root.tag == f"{NS}openbox_config"
    assert (
        root.find(f"{NS}keyboard") is not None
    )  # present and empty: openbox's defaults are not used
    assert root.findall(f".//{NS}keybind") == []
    mouse = root.find(f"{NS}mouse")
    assert mouse is not None
    used = set()
    for context in mouse.findall(f"{NS}context"):
        names = context.get("name", "").split()
        assert not {"Root", "Close", "Iconify"} & set(names), names
        for bind in context.findall(f"{NS}mousebind"):
            used.update(actions(bind))
    assert used
    assert used <= ALLOWED_ACTIONS, used - ALLOWED_ACTIONS
    assert set(actions(root)) <= ALLOWED_ACTIONS  # nowhere else either (an "if" holds actions too)
    assert root.findtext(f"{NS}desktops/{NS}number") == "1"
    layout = root.findtext(f"{NS}theme/{NS}titleLayout") or ""
    assert not set(layout) & set("CIS"), layout  # no close, iconify or shade button


def test_the_walk_finds_what_debians_own_config_binds() -> None:
    if not DEBIAN_RC.exists():
        pytest.skip("openbox's /etc/xdg/openbox/rc.xml is not installed")
    root = ET.parse(DEBIAN_RC).getroot()
    found = set(actions(root)) - ALLOWED_ACTIONS
    assert {"Close", "NextWindow", "Execute", "ShowMenu", "Lower", "GoToDesktop"} <= found


def test_the_openbox_config_keeps_debians_sections() -> None:
    if not DEBIAN_RC.exists():
        pytest.skip("openbox's /etc/xdg/openbox/rc.xml is not installed")
    ours = [c.tag for c in ET.parse(RC).getroot()]
    theirs = [c.tag for c in ET.parse(DEBIAN_RC).getroot()]
    assert ours == theirs
    assert ET.parse(RC).getroot().findtext(f"{NS}theme/{NS}name") == ET.parse(
        DEBIAN_RC
    ).getroot().findtext(f"{NS}theme/{NS}name")


def test_the_xorg_snippet_turns_the_server_keys_off() -> None:
    text = (LOCKDOWN / "50-espace-lockdown.conf").read_text(encoding="utf-8")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines[0] == 'Section "ServerFlags"'
    assert lines[-1] == "EndSection"
    options = {}
    for ln in lines[1:-1]:
        m = re.fullmatch(r'Option "(\w+)" "(\w+)"', ln)
        assert m, ln
        options[m.group(1)] = m.group(2)
    assert options == {"DontZap": "true", "DontVTSwitch": "true", "DontZoom": "true"}


def test_sysrq_and_the_ctrl_alt_del_burst_are_off() -> None:
    sysctl = [
        ln
        for ln in (LOCKDOWN / "50-espace-sysrq.conf").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert sysctl == ["kernel.sysrq = 0"]
    system = [
        ln
        for ln in (LOCKDOWN / "50-espace-ctrl-alt-del.conf").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert system == ["[Manager]", "CtrlAltDelBurstAction=none"]


def debian_steps() -> list[str]:
    block = README.split("## Debian 12", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    block = re.sub(r"\\\n\s*", " ", block)
    return [
        ln.strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def test_the_readme_installs_every_lockdown_file_and_its_lines_parse_as_sh() -> None:
    steps = debian_steps()
    installs = {
        Path(s.split()[-2]).name: s.split()[-1]
        for s in steps
        if s.startswith("install ") and "lockdown/" in s
    }
    assert installs == {
        "rc.xml": "/home/visitor/.config/openbox/rc.xml",
        "50-espace-lockdown.conf": "/etc/X11/xorg.conf.d/50-espace-lockdown.conf",
        "50-espace-sysrq.conf": "/etc/sysctl.d/50-espace-sysrq.conf",
        "50-espace-ctrl-alt-del.conf": "/etc/systemd/system.conf.d/50-espace-ctrl-alt-del.conf",
    }
    assert {p.name for p in LOCKDOWN.iterdir()} - set(installs) == {"windows-policies.json"}
    assert any(
        s.startswith("install -D -o root -g root") and s.endswith("openbox/rc.xml") for s in steps
    )
    assert "chown root:root /home/visitor/.config/openbox" in steps
    assert "systemctl mask ctrl-alt-del.target" in steps
    assert any("autologin-session=openbox" in s for s in steps)
    for step in steps:
        for word in step.split():
            if word.startswith("deploy/station/"):
                assert (ROOT / word).exists(), word
        done = subprocess.run(
            ["sh", "-n", "-c", step], capture_output=True, text=True, timeout=10, check=False
        )
        assert done.returncode == 0, f"{step}: {done.stderr}"


# --- Windows ------------------------------------------------------------------------------------

POLICIES = json.loads((LOCKDOWN / "windows-policies.json").read_text(encoding="utf-8"))["policies"]


def test_the_windows_policies_are_the_documented_ones() -> None:
    by_name = {(p["key"].rsplit("\\", 1)[-1], p["name"]): p for p in POLICIES}
    for key, name in [("System", "DisableTaskMgr"), ("System", "DisableLockWorkstation"), ("System", "DisableChangePassword"),
                      ("Explorer", "NoRun"), ("Explorer", "NoWinKeys"), ("Explorer", "NoControlPanel"), ("System", "DisableCMD")]:  # fmt: skip
        assert by_name[(key, name)]["value"] == 1, name
    assert (
        by_name[("System", "DisableCMD")]["key"] == "Software\\Policies\\Microsoft\\Windows\\System"
    )
    assert (
        by_name[("System", "DisableTaskMgr")]["key"]
        == "Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
    )
    for p in POLICIES:
        assert p["type"] in {"DWord", "String"}, p
        assert isinstance(p["value"], int if p["type"] == "DWord" else str), p
        assert not p["key"].upper().startswith(("HKEY", "HKLM", "HKCU")), (
            p
        )  # relative to the visitor's hive
    assert len({(p["key"], p["name"]) for p in POLICIES}) == len(POLICIES)


def test_the_readme_table_is_the_policy_file() -> None:
    section = README.split("## Locking the desktop", 1)[1].split("### Windows", 1)[1]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    table = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        table.append({"key": cells[0].strip("`"), "name": cells[1].strip("`"), "type": cells[2],
                      "value": cells[3].strip("`"), "effect": cells[4]})  # fmt: skip
    assert table == [{**p, "value": str(p["value"])} for p in POLICIES]


def test_the_installer_reads_the_policy_file_into_the_visitors_hive() -> None:
    ps1 = (STATION / "install-agent.ps1").read_text(encoding="utf-8")
    step = ps1.split("# --- 6.", 1)[1]
    assert 'Join-Path $PSScriptRoot "lockdown\\windows-policies.json"' in step
    assert "ConvertFrom-Json" in step
    assert "foreach ($p in $list.policies)" in step
    assert "-Name $p.name -PropertyType $p.type -Value $p.value" in step
    assert '& reg.exe load "HKU\\EspaceVisitor" $hive' in step
    assert (
        '& reg.exe unload "HKU\\EspaceVisitor"' in step.split("finally", 1)[1]
    )  # unloaded even when a write fails
    for p in POLICIES:  # no value of the list is written from elsewhere in the script
        assert p["name"] not in ps1.replace(step, "") or p["name"].isdigit(), p["name"]
    assert "[switch] $NoLockdown" in ps1
    assert '[string] $ShellLauncher = ""' in ps1


# --- openbox under Xvfb -------------------------------------------------------------------------

NEEDS_X = pytest.mark.skipif(XVFB is None or not all(shutil.which(t) for t in ("openbox", "xdotool", "xprop")),
                             reason="needs Xvfb, openbox, xdotool and xprop")  # fmt: skip
PROBE = "import sys, tkinter; r = tkinter.Tk(); r.title(sys.argv[1]); r.geometry('300x200+100+100'); r.mainloop()"


def x(display: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def until(predicate, within: float = 20.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + within
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


class OpenboxExited(AssertionError):
    pass


class Desk:
    def __init__(self, display: str, config: Path) -> None:
        self.display = display
        self.procs = [subprocess.Popen(["openbox", "--config-file", str(config)], env={**os.environ, "DISPLAY": display},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]  # fmt: skip
        wm = self.procs[0]
        # openbox names itself first and sets its desktops a moment later (CI, two tests at once,
        # read the root window in between): wait for both
        until(
            lambda: (
                (
                    "window id" in x(display, "xprop", "-root", "_NET_SUPPORTING_WM_CHECK").stdout
                    and "=" in x(display, "xprop", "-root", "_NET_NUMBER_OF_DESKTOPS").stdout
                )
                or wm.poll() is not None
            ),
            60,
        )
        assert wm.poll() is None, (
            f"openbox exited {wm.returncode}: {wm.stderr.read() if wm.stderr else b''!r}"
        )

    def window(self, title: str = "espace-probe") -> tuple[subprocess.Popen[bytes], str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, title], env={**os.environ, "DISPLAY": self.display}
        )
        self.procs.append(proc)
        wid = until(
            lambda: x(
                self.display, "xdotool", "search", "--onlyvisible", "--name", f"^{title}$"
            ).stdout.split()
        )
        x(self.display, "xdotool", "windowactivate", "--sync", wid[0])
        return proc, wid[0]

    def visible(self) -> int:
        return len(
            x(self.display, "xdotool", "search", "--onlyvisible", "--name", "").stdout.split()
        )

    def active(self) -> str:
        return x(self.display, "xdotool", "getactivewindow").stdout.strip()

    def key(self, *keys: str) -> None:
        x(self.display, "xdotool", "key", *keys)
        x(
            self.display, "xprop", "-root", "_NET_ACTIVE_WINDOW"
        )  # a round trip: the server has seen the keys
        time.sleep(0.5)  # openbox acts on them (there is no event to wait for when nothing happens)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()
            proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


@contextmanager
def desk(config: Path) -> Iterator[Desk]:
    """openbox on a fresh Xvfb. Another suite's Xvfb may take the same display number at the same
    moment (openbox then exits at once, code 1, saying nothing): such a start is tried again, twice."""
    for attempt in range(3):
        with xvfb(800, 600) as display:
            try:
                d = Desk(display, config)
            except OpenboxExited:
                if attempt == 2:
                    raise
                continue
            try:
                yield d
            finally:
                d.close()
            return


@NEEDS_X
def test_openbox_starts_with_it_and_the_keys_and_clicks_do_nothing() -> None:
    with desk(RC) as d:
        assert (
            x(d.display, "xprop", "-root", "_NET_NUMBER_OF_DESKTOPS").stdout.strip().endswith("= 1")
        )
        other, _ = d.window("espace-other")  # a second window that Alt+Tab could switch to
        proc, wid = d.window()
        for keys in (["alt+F4"], ["alt+Escape"], ["alt+Tab"], ["ctrl+alt+Right"], ["super+d"]):
            d.key(*keys)
            assert proc.poll() is None, f"{keys} closed the window"
            assert int(d.active() or 0) == int(wid), f"{keys} moved the focus away"
        before = d.visible()
        x(d.display, "xdotool", "mousemove", "650", "500", "click", "3")
        x(d.display, "xdotool", "mousemove", "650", "500", "click", "2")
        time.sleep(0.5)
        assert d.visible() == before  # no root menu, no window list
        assert proc.poll() is None
        assert other.poll() is None


@NEEDS_X
def test_with_debians_own_config_the_same_keys_close_and_the_click_shows_a_menu() -> None:
    if not DEBIAN_RC.exists():
        pytest.skip("openbox's /etc/xdg/openbox/rc.xml is not installed")
    with desk(DEBIAN_RC) as d:
        before = d.visible()
        # clicked again until it shows: openbox may still be starting on a loaded machine
        for _ in range(20):
            x(d.display, "xdotool", "mousemove", "650", "500", "click", "3")
            time.sleep(0.5)
            if d.visible() > before:
                break
        assert d.visible() > before, "Debian's rc.xml shows no menu on a right click"
        d.key("Escape")
        d.window("espace-other")
        proc, wid = d.window()
        d.key("alt+Tab")
        until(lambda: int(d.active() or 0) != int(wid), 10)
        x(d.display, "xdotool", "windowactivate", "--sync", wid)
        d.key("alt+F4")
        until(lambda: proc.poll() is not None, 10)
