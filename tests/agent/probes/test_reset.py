"""WipeReset on a fake visitor home, with real files, links and processes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil
import pytest

from agent.probes.reset import WipeReset, remove_entry, user_matches

POSIX_ROOT = sys.platform != "win32" and os.geteuid() == 0


class Visitor:
    """Processes tagged with a marker argument, so a reset targets only them."""

    def __init__(self) -> None:
        self.marker = f"espace-test-visitor-{uuid.uuid4().hex}"
        self.children: list[subprocess.Popen[str]] = []

    def match(self, proc: psutil.Process) -> bool:
        return self.marker in proc.cmdline()

    def start(self, ignore_term: bool = False) -> int:
        code = "import signal, sys, time\n"
        if ignore_term:
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "print('ready', flush=True)\ntime.sleep(600)\n"
        child = subprocess.Popen(
            [sys.executable, "-c", code, self.marker], stdout=subprocess.PIPE, text=True
        )
        self.children.append(child)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        return child.pid

    def start_orphan(self) -> int:
        """A grandchild whose parent has exited, as a desktop app would be."""
        code = (
            "import subprocess, sys\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', sys.argv[1]],\n"
            "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(p.pid, flush=True)\n"
        )
        launcher = subprocess.run(
            [sys.executable, "-c", code, self.marker],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return int(launcher.stdout.strip())

    def alive(self) -> list[int]:
        found = []
        for proc in psutil.process_iter():
            try:
                if self.match(proc) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    def cleanup(self) -> None:
        for pid in self.alive():
            psutil.Process(pid).kill()
        for child in self.children:
            child.kill()
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()


@pytest.fixture
def visitor() -> Iterator[Visitor]:
    v = Visitor()
    yield v
    v.cleanup()


def _write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Someone else's data, that links inside the home point at."""
    other = tmp_path / "outside"
    _write(other / "secret.txt", "keep me")
    _write(other / "folder" / "inner.txt", "keep me too")
    return other


@pytest.fixture
def home(tmp_path: Path, outside: Path) -> Path:
    home = tmp_path / "visitor"
    _write(home / ".bashrc", "not a wipe root")
    _write(home / "Downloads" / "cv.pdf")
    _write(home / "Downloads" / "letters" / "2026" / "motivation.odt")
    _write(home / "Downloads" / "letters" / "draft.txt")
    (home / "Downloads" / "empty").mkdir()
    ro = _write(home / "Documents" / "locked" / "readonly.txt")
    ro.chmod(0o444)
    ro.parent.chmod(0o555)
    (home / "Documents" / "to-secret").symlink_to(outside / "secret.txt")
    (home / "Documents" / "to-folder").symlink_to(outside / "folder", target_is_directory=True)
    (home / "Documents" / "dangling").symlink_to(outside / "nothing-here")
    (home / "Desktop").mkdir()
    _write(home / ".mozilla" / "firefox" / "abc.default" / "places.sqlite")
    return home


ROOTS = ["Downloads", "Documents", "Desktop", ".mozilla"]


def _assert_outside_untouched(outside: Path) -> None:
    assert (outside / "secret.txt").read_text() == "keep me"
    assert (outside / "folder" / "inner.txt").read_text() == "keep me too"


def test_reset_wipes_files_and_ends_processes(home: Path, outside: Path, visitor: Visitor) -> None:
    pids = [visitor.start(), visitor.start_orphan()]
    assert sorted(visitor.alive()) == sorted(pids)
    resetter = WipeReset([home / r for r in ROOTS], match=visitor.match, kill_timeout=5)

    report = resetter.reset()

    assert report.ok, report.error
    assert report.processes_ended == 2
    assert report.files_removed == 3 + 1 + 3 + 1  # Downloads, read-only file, 3 links, .mozilla
    assert visitor.alive() == []
    for root in ROOTS:
        assert (home / root).is_dir()
        assert list((home / root).iterdir()) == []
    assert (home / ".bashrc").read_text() == "not a wipe root"
    _assert_outside_untouched(outside)
    assert os.getpid() in {p.pid for p in psutil.process_iter()}

    again = resetter.reset()  # an already clean station resets cleanly
    assert (again.ok, again.files_removed, again.processes_ended) == (True, 0, 0)


def test_process_ignoring_sigterm_is_killed(tmp_path: Path, visitor: Visitor) -> None:
    visitor.start(ignore_term=True)
    report = WipeReset([tmp_path / "Downloads"], match=visitor.match, kill_timeout=0.5).reset()
    assert report.ok, report.error
    assert report.processes_ended == 1
    assert visitor.alive() == []


def test_agent_and_its_parent_are_never_ended(tmp_path: Path) -> None:
    mine = {os.getpid(), os.getppid()}
    report = WipeReset([tmp_path / "x"], match=lambda p: p.pid in mine).reset()
    assert (report.ok, report.processes_ended) == (True, 0)
    assert psutil.pid_exists(os.getpid())
    assert psutil.pid_exists(os.getppid())


def test_root_replaced_by_a_link_is_unlinked_not_followed(home: Path, outside: Path) -> None:
    shutil.rmtree(home / "Desktop")
    (home / "Desktop").symlink_to(outside, target_is_directory=True)
    report = WipeReset([home / "Desktop"]).reset()
    assert report.ok, report.error
    assert report.files_removed == 1
    assert (home / "Desktop").is_dir()
    assert not (home / "Desktop").is_symlink()
    _assert_outside_untouched(outside)


def test_parent_of_a_root_turned_into_a_link_fails(home: Path, outside: Path) -> None:
    root = home / ".mozilla" / "firefox"
    resetter = WipeReset([root])
    shutil.rmtree(home / ".mozilla")
    _write(outside / "firefox" / "profile.db", "someone else's")
    (home / ".mozilla").symlink_to(outside, target_is_directory=True)
    report = resetter.reset()
    assert not report.ok
    assert "now resolves to" in report.error
    assert (outside / "firefox" / "profile.db").read_text() == "someone else's"


def test_missing_root_is_nothing_to_wipe(tmp_path: Path) -> None:
    report = WipeReset([tmp_path / "never-created"]).reset()
    assert (report.ok, report.files_removed) == (True, 0)


def test_failing_remover_fails_the_reset(home: Path) -> None:
    def remover(path: Path) -> None:
        if path.name == "cv.pdf":
            raise PermissionError(1, "Operation not permitted")
        remove_entry(path)

    report = WipeReset([home / "Downloads"], remover=remover).reset()
    assert not report.ok
    assert "cv.pdf" in report.error
    assert report.files_removed == 2  # the rest is still wiped
    assert [p.name for p in (home / "Downloads").iterdir()] == ["cv.pdf"]


@pytest.mark.skipif(
    not POSIX_ROOT or shutil.which("chattr") is None, reason="needs root and chattr"
)
def test_immutable_file_fails_the_reset(home: Path) -> None:
    stuck = home / "Downloads" / "cv.pdf"
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False).returncode:
        pytest.skip("file system without the immutable attribute")
    try:
        report = WipeReset([home / "Downloads"]).reset()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert not report.ok
    assert "cv.pdf" in report.error


@pytest.mark.skipif(not POSIX_ROOT, reason="needs root to mount")
def test_mount_point_inside_a_root_is_not_wiped(home: Path) -> None:
    mnt = home / "Downloads" / "usb"
    mnt.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "none", str(mnt)], capture_output=True, check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        _write(mnt / "stick.txt", "on another file system")
        report = WipeReset([home / "Downloads"]).reset()
        assert not report.ok
        assert "mount point" in report.error
        assert (mnt / "stick.txt").read_text() == "on another file system"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize(
    "root",
    [
        Path("/"),
        Path("/home"),
        Path("/usr"),
        Path.home(),
        Path(sys.prefix),
        Path(sys.prefix).parent,
    ],
)
def test_dangerous_roots_are_refused(root: Path) -> None:
    with pytest.raises(ValueError, match="refusing to wipe"):
        WipeReset([root])


def test_root_holding_a_protected_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="protected path"):
        WipeReset([tmp_path], protect=[tmp_path / "state"])


@pytest.mark.parametrize(
    ("roots", "message"), [([Path("Downloads")], "not an absolute"), ([], "no wipe roots")]
)
def test_bad_root_lists_are_refused(roots: list[Path], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WipeReset(roots)


def test_home_itself_is_wiped_only_when_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    with pytest.raises(ValueError, match="home folder"):
        WipeReset([home])
    assert WipeReset([home], allow_home=True).roots == [(home, os.path.realpath(home))]


def test_logoff_runs_after_configuration(tmp_path: Path) -> None:
    calls: list[Sequence[str]] = []

    def run(args: Sequence[str]) -> int:
        calls.append(list(args))
        return 1  # "not logged in": not a failure, the processes are ended anyway

    report = WipeReset(
        [tmp_path / "d"], user="visitor", logoff=True, match=lambda p: False, run=run
    ).reset()
    assert report.ok, report.error
    expected = (
        ["shutdown", "/l", "/f"]
        if sys.platform == "win32"
        else ["loginctl", "terminate-user", "visitor"]
    )
    assert calls == [expected]
    with pytest.raises(ValueError, match="needs the visitor user"):
        WipeReset([tmp_path], logoff=True)


def test_without_user_or_match_no_process_is_touched(tmp_path: Path, visitor: Visitor) -> None:
    pid = visitor.start()
    report = WipeReset([tmp_path / "d"]).reset()
    assert (report.ok, report.processes_ended) == (True, 0)
    assert visitor.alive() == [pid]


def test_user_names_compare_like_the_os() -> None:
    assert user_matches("visitor", "visitor")
    assert not user_matches("visitor2", "visitor")
    assert user_matches("ESPACE-PC12\\visitor", "visitor")


def test_remove_entry_clears_read_only_bits(tmp_path: Path) -> None:
    target = _write(tmp_path / "ro" / "f.txt")
    target.chmod(stat.S_IREAD)
    target.parent.chmod(stat.S_IREAD | stat.S_IEXEC)
    remove_entry(target)
    assert not target.exists()
