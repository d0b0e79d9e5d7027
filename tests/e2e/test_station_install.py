"""A Debian station installed as ``deploy/station/README.md`` says, then used by two visitors.

The test runs the README's Debian block line by line (``sh -c``), as root, on this
machine. What it cannot run here, it plays, and says so:

* no systemd: ``systemctl enable --now espace-agent.service`` becomes the unit's own
  ``ExecStart`` (read from the installed unit file), run as root with the unit's
  ``UMask``, after creating its ``StateDirectory`` and ``RuntimeDirectory`` as systemd would;
* no display manager: the LightDM auto-login lines are skipped; the test starts what
  auto-login starts: an X server (Xvfb), the window manager (openbox) as ``visitor``, and
  Debian's XDG autostart runner (``dex -a``) as ``visitor``, which reads
  ``espace-session.desktop`` and runs its ``Exec=`` line as written;
* ``editor agent.toml``: the test sets the keys an IT team edits (station id, the
  controller's URL, the visitor's folders);
* the ``cups`` lines: the machine's own CUPS is left alone. The README's ``sed`` runs, as
  written, on a copy of Debian's shipped ``cupsd.conf``; ``systemctl restart cups`` becomes a
  private cupsd (a virtual PDF printer on 127.0.0.1) running what that file now says
  (``PageLogFormat`` and ``ErrorPolicy retry-job``); the station's ``[print]`` reads that
  cupsd's page_log and that file, as it would read ``/var/log/cups`` and ``/etc/cups``.

Then: the station enrols and an admin approves it (``espace-controller station approve``);
the lock screen appears (checked by its pixels); a visitor clicks "start", saves a file,
leaves a process behind, prints (three copies of a CV; a letter whose first attempt fails
and is retried), and goes idle until the station frees itself; the reset ends the
visitor's processes and wipes the file; the auto-login's fresh desktop shows the lock
screen again. The next visitor gets a steward's message (a dialog on the screen) and the
steward ends that session. The IT team then sets today's hours to close in a few minutes
(site.toml, controller restarted); the last visitor's grant ends at closing time, and
closing time ends it. The controller's figures equal what happened.

The wall clock runs, not a virtual one: the service and the session screen measure idleness
and time their resets in real seconds, and a virtual clock in them would be code for tests
only. The day is short because the site's settings are at their minimums (idle prompt and
grace 1 + 1 minutes, the shortest grant 1 minute) and closing is set close: about four
minutes for the whole day.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from espace.clock import SystemClock
from tests.support.cups import CupsInstance, cups_missing_reason, private_cups, tiny_pdf
from tests.support.display import XVFB, screenshot, xvfb
from tests.support.procs import ROOT, ControllerProc, _env

README = ROOT / "deploy" / "station" / "README.md"
SYSTEM_PATHS = [Path(p) for p in ("/opt/espace", "/etc/espace-agent", "/var/lib/espace-agent", "/run/espace-agent",
                                  "/usr/local/bin/espace-agent", "/etc/systemd/system/espace-agent.service",
                                  "/etc/X11/xorg.conf.d/50-espace-lockdown.conf", "/etc/sysctl.d/50-espace-sysrq.conf",
                                  "/etc/systemd/system.conf.d/50-espace-ctrl-alt-del.conf")]  # fmt: skip
TOOLS = ("dex", "openbox", "xdotool", "xprop", "import", "convert", "adduser", "runuser")
ALL_DAY = "{" + ", ".join(f'{d} = ["00:00-23:59"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "}"
# the site at its shortest settings: idle prompt and grace 1 + 1 minutes, the shortest grant 1 minute
SITE = ("hours = {hours}\nexceptions = {exceptions}\nidle_prompt_minutes = 1\nidle_grace_minutes = 1\n"
        "min_session_minutes = 1\n")  # fmt: skip
BRUSSELS = "Europe/Brussels"  # the site's time zone (settings' default)
W, H = 1280, 800
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # root's PATH on Debian
YELLOW = (0xFF, 0xD4, 0x00)  # the lock screen's primary button (agent/ui/theme.py PRIMARY_BG)
RED = (0xFF, 0x9A, 0x9A)  # the session panel's "end my session" (DANGER_BG)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "installs a station as root (adduser, /opt/espace, /etc/espace-agent)"
    if XVFB is None:
        return "Xvfb is not installed"
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        return f"missing Debian tools: {', '.join(absent)} (apt-get install dex openbox xdotool imagemagick)"
    if not Path("/usr/bin/python3").exists():
        return "Debian's /usr/bin/python3 is missing"
    if (cups := cups_missing_reason()) is not None:
        return cups
    taken = [str(p) for p in SYSTEM_PATHS if p.exists() or p.is_symlink()]
    with contextlib.suppress(KeyError):
        pwd.getpwnam("visitor")
        taken.append("user visitor")
    if taken:
        return f"this machine already has {', '.join(taken)}: the test installs a station only where none is"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def readme_debian_steps() -> list[str]:
    """The commands of the README's Debian block, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## Debian 12", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    block = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def run(cmd: list[str] | str, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd}: {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def unit_value(unit: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith(f"{key}=")]


def rgb(shot: Path) -> bytes:
    return subprocess.run(["convert", str(shot), "-depth", "8", "rgb:-"], capture_output=True, check=True, timeout=30).stdout


def yellow_box(shot: Path) -> tuple[int, int, int, int] | None:
    """The bounding box of the primary button's yellow below the language bar, or None."""
    data = rgb(shot)
    xs, ys = [], []
    for y in range(H // 5, H, 4):
        row = data[y * W * 3 : (y + 1) * W * 3]
        for x in range(0, W, 4):
            if tuple(row[x * 3 : x * 3 + 3]) == YELLOW:
                xs.append(x)
                ys.append(y)
    if len(xs) < 50:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def colour_count(shot: Path, colour: tuple[int, int, int]) -> int:
    data, want = rgb(shot), bytes(colour)
    return sum(1 for i in range(0, len(data), 3 * 7) if data[i : i + 3] == want)


def black_share(shot: Path) -> float:
    data = rgb(shot)
    black = sum(1 for i in range(0, len(data), 3 * 97) if data[i : i + 3] == b"\x00\x00\x00")
    return black / (len(data) // (3 * 97))


def wait(predicate, within: float, what: str, every: float = 0.3):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {within} s waiting for {what}"
        time.sleep(every)


class Desktop:
    """What LightDM's auto-login starts for the visitor: openbox, then the XDG autostart entries.

    ``before``: programs the visitor's logon starts before the autostart entries run (a
    program started before the lock screen appears); ``autostart=False``: a logon whose
    autostart never ran (the session UI did not start)."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.procs: list[subprocess.Popen[bytes]] = []
        self.before: list[list[str]] = []
        self.autostart = True

    def start(self, log: Path) -> None:
        env = ["env", f"DISPLAY={self.display}", "HOME=/home/visitor", "XDG_SESSION_TYPE=x11",
               "XDG_CONFIG_HOME=/home/visitor/.config", "XDG_CONFIG_DIRS=/nonexistent", "PATH=/usr/local/bin:/usr/bin:/bin"]  # fmt: skip
        # as openbox-session does: the window manager first, the autostart entries once it runs
        steps = [["openbox"], *self.before] + ([["dex", "-a", "-v"]] if self.autostart else [])
        for argv in steps:
            with log.open("ab") as out:  # the child keeps its own copy of the descriptor
                self.procs.append(subprocess.Popen(["runuser", "-u", "visitor", "--", *env, *argv], stdout=out, stderr=out,
                                                   start_new_session=True, cwd="/"))  # fmt: skip
            if argv == ["openbox"]:
                wait(self._wm_running, 60, "openbox to manage the screen", every=0.1)  # two tests at once: slow

    def _wm_running(self) -> bool:
        done = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env={**os.environ, "DISPLAY": self.display},
                              capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
        return "window id" in done.stdout

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()


class AutoLogin:
    """The display manager's auto-login: whenever the visitor has no process left (logged off,
    or every process ended by a reset), a fresh desktop. ``logons`` counts the desktops opened."""

    def __init__(self, display: str, log: Path) -> None:
        self.desktop = Desktop(display)
        self.log = log
        self.logons = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autologin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not visitor_pids():
                self.desktop.stop()
                try:
                    self.desktop.start(self.log)
                except AssertionError:  # openbox did not come up in time: log on again, as a display manager would
                    continue
                self.logons += 1
            self._stop.wait(0.3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.desktop.stop()


def visitor_pids() -> list[int]:
    uid = pwd.getpwnam("visitor").pw_uid
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) == uid]


def visitor_commands() -> list[str]:
    """The visitor's processes, as their command lines."""
    out = []
    for pid in visitor_pids():
        with contextlib.suppress(OSError):
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
    return out


def session_ui_pids() -> list[int]:
    found = []
    for pid in visitor_pids():
        with contextlib.suppress(OSError):
            if b"session-ui" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def _uid(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except OSError:
        return None


@dataclass
class Station:
    """A station installed from the README, enrolled, its service running, auto-login on."""

    ctl: ControllerProc
    display: str
    tmp: Path
    shots: Path
    service: subprocess.Popen[bytes]
    service_log: Path
    autologin: AutoLogin
    cups: CupsInstance

    def lock_screen(self, name: str) -> tuple[int, int, int, int] | None:
        shot = screenshot(self.display, self.shots / name)
        box = yellow_box(shot)
        if box is None or black_share(shot) < 0.5:
            return None
        x0, y0, x1, y1 = box  # a yellow button a finger can hit, centred (not a line of yellow text)
        return box if x1 - x0 > 200 and y1 - y0 > 60 and abs((x0 + x1) / 2 - W / 2) < W / 8 else None

    def xdotool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.display}, capture_output=True,
                              text=True, check=False, timeout=10)  # fmt: skip

    def click(self, box: tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = box
        assert self.xdotool("mousemove", str((x0 + x1) // 2), str((y0 + y1) // 2), "click", "1").returncode == 0

    def sessions(self) -> list[sqlite3.Row]:
        return self.ctl.rows(
            "SELECT id, end_reason, planned_end, cause FROM sessions WHERE station = 'PC-21' ORDER BY start"
        )

    def print_visitor(self, title: str, copies: int, pdf: Path) -> None:
        """The visitor prints from their desktop (``lp``, as an application's print dialog does)."""
        run(["runuser", "-u", "visitor", "--", "lp", "-h", self.cups.server, "-d", self.cups.printer,
             "-t", title, "-n", str(copies), str(pdf)])  # fmt: skip

    def escapes(self) -> list[tuple[str, str]]:
        return [(r["what"], r["action"]) for r in self.ctl.rows(
            "SELECT json_extract(body, '$.what') AS what, json_extract(body, '$.action') AS action FROM events"
            " WHERE station = 'PC-21' AND type = 'escape_attempt' ORDER BY seq")]  # fmt: skip


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    """The README's Debian block run line by line on this machine; undone afterwards, whatever happened."""
    tmp = tmp_path_factory.mktemp("station")
    ctl: ControllerProc | None = None
    service: subprocess.Popen[bytes] | None = None
    autologin: AutoLogin | None = None
    cups: list[CupsInstance] = []
    x = xvfb(W, H)
    display = x.__enter__()
    try:
        ctl, service, service_log = install(tmp, cups)
        autologin = AutoLogin(display, tmp / "desktop.log")
        shots = tmp / "shots"
        shots.mkdir()
        autologin.start()
        yield Station(ctl, display, tmp, shots, service, service_log, autologin, cups[0])
        assert service.poll() is None, service_log.read_text()[-3000:]
    finally:
        for instance in cups:
            instance.stop()
        if autologin is not None:
            autologin.stop()
        if service is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.wait(10)
        x.__exit__(None, None, None)
        if ctl is not None:
            ctl.kill()
        uninstall()


def uninstall() -> None:
    with contextlib.suppress(KeyError):
        pwd.getpwnam("visitor")
        subprocess.run(["pkill", "-KILL", "-u", "visitor"], check=False)
        time.sleep(0.5)
        subprocess.run(["userdel", "-r", "-f", "visitor"], capture_output=True, check=False)
    for path in SYSTEM_PATHS:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


# A backend that fails the first attempt of a job whose title says so (CUPS_BACKEND_FAILED):
# with Debian's ErrorPolicy retry-job, CUPS prints it again after JobRetryInterval.
FAIL_FIRST_ATTEMPT = [
    'case "$3" in *fails-once*)',
    '  mark="$(dirname "$0")/../../failed-once-$1"',
    '  if [ ! -e "$mark" ]; then : > "$mark"; echo "ERROR: paper path blocked (test)" >&2; exit 1; fi;;',
    "esac",
]
CUPS_DIRECTIVES = ("PageLogFormat", "ErrorPolicy", "LogTimeFormat", "PageLog")


def debian_cupsd_conf(tmp: Path) -> Path:
    """A copy of the cupsd.conf Debian's cups package ships (this machine's, or the corpus's if it was edited)."""
    shipped = Path("/etc/cups/cupsd.conf")
    corpus = ROOT / "tests" / "espace" / "page_log" / "debian-12-shipped" / "cupsd.conf"
    text = shipped.read_text() if shipped.exists() else ""
    if not re.search(r"^PageLogFormat\s*$", text, flags=re.M):
        text = corpus.read_text()
    (tmp / "etc-cups").mkdir()
    copy = tmp / "etc-cups" / "cupsd.conf"
    copy.write_text(text)
    return copy


def start_cups_as_configured(tmp: Path, conf: Path) -> CupsInstance:
    """``systemctl restart cups``: a private cupsd that runs the logging and error policy ``conf`` sets."""
    kept = [line for line in conf.read_text().splitlines() if line.split(maxsplit=1)[:1] and line.split()[0] in CUPS_DIRECTIVES]
    assert kept, f"{conf} sets none of {CUPS_DIRECTIVES}"
    # a retry 5 s after a failure (Debian: 30 s) keeps the day short
    return private_cups(tmp, conf="\n".join([*kept, "JobRetryInterval 5"]), backend_before=FAIL_FIRST_ATTEMPT)


def install(tmp: Path, cups: list[CupsInstance]) -> tuple[ControllerProc, subprocess.Popen[bytes], Path]:
    """Build the wheel, start a controller, run the README's steps, enrol and approve the station.

    ``cups`` receives the private cupsd that stands for the machine's (the caller stops it)."""
    # --- the wheel the README starts from, built from this checkout
    dist = tmp / "install"
    dist.mkdir()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("espace-*.whl")
    assert wheel.name == "espace-0.1.0-py3-none-any.whl"  # the name the README's commands use
    (dist / "deploy").symlink_to(ROOT / "deploy")

    # --- a controller for the station to enrol with
    site = tmp / "site.toml"
    site.write_text(SITE.format(hours=ALL_DAY, exceptions="{}"), encoding="utf-8")
    ctl = ControllerProc(tmp, SystemClock(), config=site)
    ctl.start()
    service: subprocess.Popen[bytes] | None = None
    skipped, service_log = [], tmp / "service.log"
    for step in readme_debian_steps():
        if step.startswith(("mkdir -p /etc/lightdm", "printf '[Seat:*]")):
            skipped.append(step)  # no display manager: the test starts the visitor's desktop itself
        elif step.startswith("apt-get install"):
            pkgs = [w for w in step.split()[3:] if not w.startswith("-")]
            run(["dpkg", "-s", *pkgs])  # installed on this machine (make test's TEST_DEBS)
        elif step.startswith("editor "):
            conf = Path(step.split()[1])
            text = conf.read_text()
            text = text.replace('id = "PC-12"', 'id = "PC-21"')
            text = text.replace('url = "wss://espace.example.local:8443/ws/agent"', f'url = "{ctl.ws_url}"')
            text = text.replace("discover = true", "discover = false").replace("heartbeat_seconds = 15", "heartbeat_seconds = 1")
            text = text.replace("screen_grace_seconds = 30", "screen_grace_seconds = 15")  # a logon with no screen ends sooner
            conf.write_text(text)
        elif step.startswith("sed ") and "/etc/cups/cupsd.conf" in step:
            cupsd_conf = debian_cupsd_conf(tmp)  # the README's command as written, on the copy
            run(["sh", "-ec", step.replace("/etc/cups/cupsd.conf", str(cupsd_conf))], env={"PATH": DEBIAN_PATH})
        elif step == "systemctl restart cups":
            cups.append(start_cups_as_configured(tmp, cupsd_conf))
            conf = Path("/etc/espace-agent/agent.toml")  # where this machine's CUPS would be: the private one
            text = conf.read_text().replace('page_log = "/var/log/cups/page_log"', f'page_log = "{cups[0].page_log}"')
            conf.write_text(text.replace("[print]\n", f'[print]\ncupsd_conf = "{cupsd_conf}"\n', 1))
        elif step == "systemctl daemon-reload":
            pass
        elif step.startswith("systemctl enable --now"):
            service = start_unit(Path("/etc/systemd/system/espace-agent.service"), service_log)
        elif step.startswith("systemctl "):
            skipped.append(step)  # no systemd here
        else:  # in root's Debian environment: /usr/bin/python3, not a developer's python
            run(["sh", "-ec", step], cwd=dist, env={"PATH": DEBIAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"})
    assert service is not None, "the README never starts the service"
    assert [s.split()[0] for s in skipped][:3] == ["mkdir", "printf", "systemctl"], skipped
    assert all(s.startswith(("mkdir -p /etc/lightdm", "printf", "systemctl ")) for s in skipped), skipped
    assert cups, "the README never restarts CUPS after making its page log countable"

    # --- the station enrols; an admin approves the key it shows
    pending = wait(lambda: (lambda out: out if "PC-21" in out else None)(ctl.cli("station", "pending").stdout), 30, "the station's enrolment request")
    (code,) = re.findall(r"\bcode (\S+)", pending)  # the code the station's screen shows
    ctl.cli("station", "approve", "PC-21", "--code", code)
    wait(lambda: Path("/var/lib/espace-agent/token").exists(), 30, "the token")
    assert Path("/run/espace-agent/control.sock").exists()
    home = Path("/home/visitor")
    (home / "Downloads").mkdir(exist_ok=True)
    run(["chown", "visitor:visitor", str(home / "Downloads")])
    return ctl, service, service_log


def test_a_station_installed_from_the_readme_lives_a_day(station: Station) -> None:
    s, ctl, home = station, station.ctl, Path("/home/visitor")
    done = len(s.sessions())
    pdf = tiny_pdf(s.tmp / "cv.pdf", pages=2)
    for visitor in (1, 2):
        # the lock screen with its start button (after a reset it may say "not available" a moment)
        box = wait(lambda v=visitor: s.lock_screen(f"lock-{v}.png"), 90, f"the lock screen for visitor {visitor} (see {s.tmp})", every=1)
        logons = s.autologin.logons
        s.click(box)
        wait(lambda v=visitor: len(s.sessions()) == done + v, 30, f"session {visitor} started")
        # the lock screen gave way to the session panel: the start button's place is no longer
        # yellow, and the panel's "end my session" button (light red) is on screen
        shot = wait(lambda v=visitor: (lambda p: p if colour_count(p, RED) > 100 else None)(screenshot(s.display, s.shots / f"session-{v}.png")),
                    20, "the session panel")  # fmt: skip
        x0, y0, x1, y1 = box
        centre = ((y0 + y1) // 2 * W + (x0 + x1) // 2) * 3
        assert rgb(shot)[centre : centre + 3] != bytes(YELLOW)
        # the visitor works: a file in Downloads, a program left running
        run(["runuser", "-u", "visitor", "--", "sh", "-c", "echo cv > /home/visitor/Downloads/cv.txt"])
        stray = subprocess.Popen(["runuser", "-u", "visitor", "--", "sleep", "3600"], start_new_session=True)
        if visitor == 1:
            # prints: a 2-page CV in 3 copies (6 pages), and a 2-page letter whose first attempt
            # fails (Debian's ErrorPolicy retry-job prints it again): cupsd's totals for it are
            # cumulative, 2 then 4, and a job counts as its last total (deploy/station/README.md)
            cv = home / "Downloads" / "cv.pdf"  # the visitor's own file (the reset wipes it)
            shutil.copy(pdf, cv)
            run(["chown", "visitor:visitor", str(cv)])
            s.print_visitor("CV Marie", 3, cv)
            s.print_visitor("lettre fails-once", 1, cv)
            s.cups.wait_jobs_done(timeout=90)
            session = s.sessions()[done]["id"]
            # the letter's failed attempt is counted when cupsd logs it (2), its retry as what it
            # grew by (2 more): 10 pages in all on the session, two jobs in the report
            wait(lambda sid=session: ctl.rows("SELECT SUM(pages) AS n FROM print_jobs WHERE session_id = ?", sid)[0]["n"] == 10,
                 60, f"10 pages counted on the session; cupsd logged:\n{s.cups.page_log.read_text()}")  # fmt: skip
            rows = ctl.rows("SELECT pages, source FROM print_jobs WHERE session_id = ?", session)
            assert sorted((r["pages"], r["source"]) for r in rows) == [(2, "cups"), (2, "cups"), (6, "cups")]
            (row,) = ctl.rows("SELECT pages_bw FROM sessions WHERE id = ?", session)
            assert row["pages_bw"] == 10
            # ... and leaves: no input; the prompt, then the end for idleness, then the reset
            wait(lambda: [r["end_reason"] for r in s.sessions()][done:] == ["idle"], 240, "the idle end", every=1)
        else:
            # a steward writes to the visitor from the floor: a dialog on the visitor's screen
            before = colour_count(screenshot(s.display, s.shots / "before-message.png"), YELLOW)
            steward_post(ctl, "/api/stations/PC-21/message", {"text": "Votre CV est prêt au comptoir"})
            wait(lambda b=before: colour_count(screenshot(s.display, s.shots / "message.png"), YELLOW) > b + 200, 20,
                 "the steward's message on the screen")  # fmt: skip
            s.xdotool("key", "Return")  # its OK button has the focus
            wait(lambda b=before: colour_count(screenshot(s.display, s.shots / "message-read.png"), YELLOW) <= b + 50, 20,
                 "the message dialog closed")  # fmt: skip
            # ... then ends the session, as the floor's "end" button does
            steward_post(ctl, "/api/stations/PC-21/end", {"reason": "closing the room"})
            wait(lambda: [r["end_reason"] for r in s.sessions()][done:] == ["idle", "steward"], 30, "the steward's end")
        wait(lambda: not (home / "Downloads" / "cv.txt").exists(), 30, "the visitor's files wiped")
        wait(lambda st=stray: st.poll() is not None, 30, "the visitor's program ended")
        # every process of the visitor ended: the display manager's auto-login opens a fresh desktop
        wait(lambda n=logons: s.autologin.logons > n, 30, "the visitor logged off and a fresh desktop")
        assert list((home / "Downloads").iterdir()) == []

    # closing time: the IT team sets today's hours to close in three minutes (and open again a
    # minute later, for the next test) and restarts the controller; the station reconnects
    closing, reopening = close_soon(ctl, minutes=3)
    box = wait(lambda: s.lock_screen("lock-3.png"), 90, "the lock screen for the last visitor", every=1)
    wait(lambda: station_connected(ctl), 60, "the station back on the restarted controller")
    s.click(box)
    wait(lambda: len(s.sessions()) == done + 3, 30, "the last session started")
    last = s.sessions()[done + 2]
    assert (last["planned_end"], last["cause"]) == (closing, "closing")  # granted up to closing time
    # the visitor works to the end (the mouse moves: not idle), and closing time ends the session
    deadline = closing + 60
    while [r["end_reason"] for r in s.sessions()][done:] != ["idle", "steward", "closing"]:
        assert time.time() < deadline, f"closing time did not end the last session: {[tuple(r) for r in s.sessions()]}"
        s.xdotool("mousemove_relative", "--", "3", "0")
        time.sleep(1)
        s.xdotool("mousemove_relative", "--", "-3", "0")
        time.sleep(4)
    assert time.time() >= closing - 2  # not before (the station's clock is this machine's)
    # the controller's figures equal the day: three sessions, two print jobs of 10 pages, on PC-21
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from controller.reports import figures

    today = datetime.fromtimestamp(closing, ZoneInfo(BRUSSELS)).date().isoformat()
    with contextlib.closing(sqlite3.connect(f"file:{ctl.db}?mode=ro", uri=True)) as db:
        prints = figures.print_figures(db, today, today, tz=BRUSSELS)
        sessions = figures.session_figures(db, today, today, tz=BRUSSELS)
    assert (prints.jobs, prints.pages) == (2, 10)  # what the back office's report says
    assert sessions.started - done == 3
    assert s.escapes() == []  # an honest day: no escape reported
    assert reopening - time.time() < 90  # the next test's wait for the lock screen spans the gap


def close_soon(ctl: ControllerProc, minutes: int) -> tuple[float, float]:
    """Today closes ``minutes`` from now (on a minute) and opens again a minute later: site.toml, then a restart."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(BRUSSELS)
    now = datetime.now(tz)
    if now.hour == 23 and now.minute >= 50:  # the day's last minutes: the gap would cross midnight
        time.sleep((datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tz) - now).total_seconds() + 60)
        now = datetime.now(tz)
    closing = (now + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    reopening = closing + timedelta(minutes=1)
    day = f'{{"{now.date().isoformat()}" = ["00:00-{closing:%H:%M}", "{reopening:%H:%M}-23:59"]}}'
    assert ctl.config is not None
    ctl.config.write_text(SITE.format(hours=ALL_DAY, exceptions=day), encoding="utf-8")
    ctl.kill(signal.SIGTERM)
    ctl.start()
    return closing.timestamp(), reopening.timestamp()


def station_connected(ctl: ControllerProc) -> bool:
    import json

    with ctl._urlopen("/healthz") as r:
        return json.loads(r.read())["stations_connected"] >= 1


# A program of the visitor's that counts the keys it receives (it must receive none at the lock screen).
INTRUDER = (
    "import sys, tkinter as tk\n"
    "root = tk.Tk(); root.title('visitor-program'); root.geometry('400x300+0+0')\n"
    "def key(e):\n"
    "    open('/tmp/espace-intruder-keys', 'a').write(e.keysym + '\\n')\n"
    "root.bind_all('<Key>', key); root.mainloop()\n"
)
SHORTCUTS = ("alt+F4", "alt+Tab", "super", "super+e", "super+d", "alt+F2", "ctrl+alt+t", "alt+Escape", "alt+space",
             "ctrl+alt+Delete", "ctrl+alt+F1", "ctrl+Escape")  # fmt: skip; ctrl+alt+BackSpace: the Xorg snippet (Xvfb would die)


def test_no_way_around_the_lock_screen(station: Station) -> None:
    """A visitor tries what Libki's users report and more; each try fails or ends in a logged-off, reset station."""
    s = station
    keys = Path("/tmp/espace-intruder-keys")
    keys.unlink(missing_ok=True)
    wait(lambda: s.lock_screen("escape-lock.png"), 90, f"the lock screen (see {s.tmp})", every=1)

    # 1. the desktop's shortcuts at the lock screen: nothing starts, nothing closes, the lock stays
    before, sessions = sorted(visitor_commands()), len(s.sessions())
    for combo in SHORTCUTS:
        s.xdotool("key", combo)
        time.sleep(0.3)
    s.xdotool("mousemove", "5", "5", "click", "3")  # the root menu of a right click on the desktop
    time.sleep(1)
    assert sorted(visitor_commands()) == before, (before, visitor_commands())
    # the keys reached the lock screen itself (its grab): Tab moves its focus, space may press
    # "larger text"; it is still the lock screen, and no session started
    assert s.lock_screen("escape-after-keys.png") is not None
    assert len(s.sessions()) == sessions
    assert s.escapes() == []

    # 2. a program started before the lock screen: it is under it and gets no key
    logons = s.autologin.logons
    s.autologin.desktop.before = [["/usr/bin/python3", "-c", INTRUDER]]
    run(["pkill", "-KILL", "-u", "visitor"])  # a fresh logon that starts the program first
    wait(lambda: s.autologin.logons > logons, 30, "a fresh logon")
    wait(lambda: s.lock_screen("escape-lock-2.png"), 90, "the lock screen over the visitor's program", every=1)
    wins = wait(lambda: s.xdotool("search", "--name", "visitor-program").stdout.split(), 20, "the program's window")
    for win in wins:
        s.xdotool("windowactivate", win)
        s.xdotool("windowfocus", win)
    s.xdotool("type", "--delay", "50", "escape")
    s.xdotool("key", "Return")
    time.sleep(1)
    assert not keys.exists() or keys.read_text() == "", keys.read_text()
    assert s.lock_screen("escape-lock-3.png") is not None
    s.autologin.desktop.before = []

    # 3. the session UI killed at the lock screen: the logon ends, a fresh one brings the lock back
    logons, closed = s.autologin.logons, s.escapes().count(("screen_closed", "logged_off"))
    for pid in session_ui_pids():
        os.kill(pid, signal.SIGKILL)
    wait(lambda: s.escapes().count(("screen_closed", "logged_off")) > closed, 60, "the service to end the logon without a screen")
    wait(lambda: s.autologin.logons > logons, 30, "the fresh logon")
    wait(lambda: s.lock_screen("escape-lock-4.png"), 90, "the lock screen back", every=1)

    # 4. a logon whose session UI never starts: ended after the grace
    logons = s.autologin.logons
    s.autologin.desktop.autostart = False
    run(["pkill", "-KILL", "-u", "visitor"])
    wait(lambda: s.autologin.logons > logons, 30, "a logon without the autostart")
    wait(lambda: ("screen_missing", "logged_off") in s.escapes(), 90, "the service to end a logon that has no screen")
    s.autologin.desktop.autostart = True
    box = wait(lambda: s.lock_screen("escape-lock-5.png"), 90, "the lock screen back", every=1)

    # 5. the session UI killed during a session: the session ends ("screen") and the station resets
    done = len(s.sessions())
    s.click(box)
    wait(lambda: len(s.sessions()) == done + 1, 30, "the session started")
    wait(lambda: session_ui_pids(), 10, "the session UI")
    logons = s.autologin.logons
    for pid in session_ui_pids():
        os.kill(pid, signal.SIGKILL)
    wait(lambda: s.sessions()[-1]["end_reason"] == "screen", 60, "the session ended for its screen")
    assert ("screen_closed_in_session", "session_ended") in s.escapes()
    wait(lambda: s.autologin.logons > logons, 60, "the reset's log-off and a fresh logon")
    wait(lambda: s.lock_screen("escape-lock-6.png"), 90, "the lock screen back", every=1)

    # the controller keeps each one for the reports, and shows them on the floor as one problem
    whats = {w for w, _ in s.escapes()}
    assert {"screen_closed", "screen_missing", "screen_closed_in_session"} <= whats, s.escapes()
    floor = steward_post(s.ctl, "/api/floor", None)
    (pc,) = [st for st in floor["stations"] if st["id"] == "PC-21"]  # type: ignore[union-attr]
    assert pc["escape"]["count"] >= 3, pc
    assert pc["escape"]["what"] == "screen_closed_in_session", pc


def steward_post(ctl: ControllerProc, path: str, body: dict[str, object] | None) -> dict[str, object]:
    """Log in as a steward (an account made with the README's command) and POST as the floor page does
    (``body=None``: GET)."""
    import http.cookiejar
    import json
    import urllib.request

    cmd = [*ctl._args(), "staff", "add", "marie", "--role", "steward", "--password-stdin", "--database", str(ctl.db)]
    subprocess.run([*cmd, "--config", str(ctl.config)] if ctl.config else cmd, input="correct horse battery\n",
                   env=_env(), capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    headers = {"Content-Type": "application/json", "Origin": ctl.url}

    def post(url: str, data: dict[str, object] | None, extra: dict[str, str]) -> dict[str, object]:
        if data is None:
            req = urllib.request.Request(ctl.url + url, headers=extra, method="GET")
        else:
            req = urllib.request.Request(ctl.url + url, json.dumps(data).encode(), {**headers, **extra}, method="POST")
        with opener.open(req, timeout=20) as resp:
            return json.loads(resp.read())

    me = post("/login", {"login": "marie", "password": "correct horse battery"}, {})["me"]
    return post(path, body, {"X-CSRF-Token": str(me["csrf"])})  # type: ignore[index]


def start_unit(unit: Path, log: Path) -> subprocess.Popen[bytes]:
    """What systemd does for this unit, without systemd: its directories, umask, ExecStart."""
    for key, base in (("StateDirectory", "/var/lib"), ("RuntimeDirectory", "/run"), ("ConfigurationDirectory", "/etc")):
        for name in unit_value(unit, key):
            mode = (unit_value(unit, f"{key}Mode") or ["0755"])[0]
            path = Path(base) / name
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(int(mode, 8))
    (user,) = unit_value(unit, "User")
    assert user == "root"
    (umask,) = unit_value(unit, "UMask")
    (exec_start,) = unit_value(unit, "ExecStart")
    env = {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8"}
    for line in unit_value(unit, "Environment"):
        key, _, value = line.partition("=")
        env[key] = value
    with log.open("ab") as out:
        return subprocess.Popen(exec_start.split(), env=env, stdout=out, stderr=out, start_new_session=True,
                                preexec_fn=lambda: os.umask(int(umask, 8)), cwd="/")  # fmt: skip
