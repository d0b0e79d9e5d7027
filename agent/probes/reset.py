"""Reset a station after a session: end the visitor's processes, wipe their folders.

Safety rules: only the contents of the configured roots are deleted; a link
(symlink, Windows junction) is removed, never followed; another file system
mounted inside a root is left alone and fails the reset; a root that is
``/``, a system folder, a home folder (unless allowed) or that holds a
protected path (the agent's state, its Python) is refused at construction.
A reset that cannot finish returns ``ok=False``: the agent then locks the
station, so nobody's data reaches the next visitor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil

from agent.probes.base import ResetReport

log = logging.getLogger(__name__)

ProcessMatch = Callable[[psutil.Process], bool]
Remover = Callable[[Path], None]
CommandRunner = Callable[[Sequence[str]], int]

_SYSTEM_DIRS = {
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
}  # fmt: skip
_WINDOWS_DIRS = {"users", "windows", "program files", "program files (x86)", "programdata"}
_REPARSE = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)


def user_matches(username: str, user: str) -> bool:
    """``psutil`` user names compared to the configured one (``DOMAIN\\user`` on Windows)."""
    name = username.rsplit("\\", 1)[-1]
    return name.casefold() == user.casefold() if sys.platform == "win32" else name == user



def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, waiting for its parent
    except psutil.NoSuchProcess:
        return True


def end_processes(selected: Callable[[psutil.Process], bool], kill_timeout: float) -> tuple[int, int]:
    """Terminate, wait, kill every ``selected`` process, never this one, its parents or init.
    Returns (ended, survivors)."""
    me = psutil.Process()
    spared = {1, me.pid, *(p.pid for p in me.parents())}
    ended = 0
    for _ in range(3):  # again, for children spawned while their parents died
        procs = [p for p in psutil.process_iter() if p.pid not in spared and selected(p)]
        procs = [p for p in procs if not _gone(p)]
        if not procs:
            return ended, 0
        alive = procs
        for signal_them in (psutil.Process.terminate, psutil.Process.kill):  # ask, wait, then force
            for proc in alive:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    signal_them(proc)
            _, alive = psutil.wait_procs(alive, timeout=kill_timeout)
        alive = [p for p in alive if not _gone(p)]
        ended += len(procs) - len(alive)
        if alive:
            return ended, len(alive)
    return ended, 0


def processes_of(user: str) -> Callable[[psutil.Process], bool]:
    """A selector of ``user``'s processes for :func:`end_processes`."""

    def selected(proc: psutil.Process) -> bool:
        try:
            return user_matches(proc.username(), user)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    return selected

def _is_link(st: os.stat_result) -> bool:
    return stat.S_ISLNK(st.st_mode) or bool(getattr(st, "st_file_attributes", 0) & _REPARSE)


def _is_real_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode) and not _is_link(st)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def remove_entry(path: Path) -> None:
    """Delete one file, link or empty folder, clearing read-only bits if needed."""
    st = os.lstat(path)
    is_dir = stat.S_ISDIR(st.st_mode)

    def attempt() -> None:
        if is_dir and not _is_link(st):
            os.rmdir(path)
        elif is_dir:  # a Windows directory link or junction: remove the link only
            try:
                os.unlink(path)
            except OSError:
                os.rmdir(path)
        else:
            os.unlink(path)

    try:
        attempt()
    except PermissionError:
        # A read-only parent folder (POSIX) or read-only attribute (Windows).
        # Never chmod through a link: that would change its target.
        parent = path.parent
        os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IRWXU)
        if not _is_link(st):
            os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IWRITE | stat.S_IREAD)
        attempt()


def _run_command(args: Sequence[str]) -> int:
    try:
        return subprocess.run(list(args), capture_output=True, timeout=30, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("log-off command %s could not run: %s", args, exc)
        return -1


class WipeReset:
    """:class:`~agent.probes.base.Resetter` for a PC's visitor account.

    ``roots``: folders whose contents are wiped. ``user``: the visitor's OS
    account; its processes are ended (unless ``match`` chooses them instead)
    and it is logged off when ``logoff`` is true. ``match`` selects the
    processes to end (tests and special set-ups); the agent, its ancestors and
    PID 1 are never ended. ``remover`` deletes one entry (a seam for tests).
    """

    def __init__(
        self,
        roots: Iterable[Path | str],
        user: str | None = None,
        logoff: bool = False,
        *,
        allow_home: bool = False,
        protect: Iterable[Path | str] = (),
        match: ProcessMatch | None = None,
        remover: Remover = remove_entry,
        logoff_command: Sequence[str] | None = None,
        run: CommandRunner = _run_command,
        kill_timeout: float = 5.0,
    ) -> None:
        self.user = user
        self.logoff = logoff
        self._match = match
        self._remove = remover
        self._run = run
        self.kill_timeout = kill_timeout
        if logoff_command is None and logoff:
            if user is None:
                raise ValueError("log-off needs the visitor user")
            logoff_command = (
                ["shutdown", "/l", "/f"]
                if sys.platform == "win32"
                else ["loginctl", "terminate-user", user]
            )
        self.logoff_command = list(logoff_command or [])
        protected = [os.path.realpath(p) for p in protect]
        protected += [os.path.realpath(sys.prefix), os.path.realpath(Path(__file__).parents[2])]
        homes = {os.path.realpath(Path.home())}
        if user is not None and sys.platform != "win32":
            import pwd

            try:
                homes.add(os.path.realpath(pwd.getpwnam(user).pw_dir))
            except KeyError:
                pass
        self.roots: list[tuple[Path, str]] = []
        for raw in roots:
            root = Path(raw)
            if not root.is_absolute():
                raise ValueError(f"wipe root {root} is not an absolute path")
            real = os.path.realpath(root)
            if self._is_system_dir(real):
                raise ValueError(f"refusing to wipe {root}: it is a system folder or a drive")
            if real in homes and not allow_home:
                raise ValueError(
                    f"refusing to wipe the home folder {root} (set allow_home to do so)"
                )
            for keep in protected:
                if _inside(keep, real):
                    raise ValueError(f"refusing to wipe {root}: it holds the protected path {keep}")
            self.roots.append((Path(os.path.abspath(root)), real))
        if not self.roots:
            raise ValueError("no wipe roots configured")

    @staticmethod
    def _is_system_dir(real: str) -> bool:
        path = Path(real)
        if path == Path(path.anchor):
            return True
        if sys.platform == "win32":
            return len(path.parts) == 2 and path.parts[1].casefold() in _WINDOWS_DIRS
        return real in _SYSTEM_DIRS

    # ----------------------------------------------------------- processes

    def _selected(self, proc: psutil.Process) -> bool:
        try:
            if self._match is not None:
                return self._match(proc)
            return self.user is not None and user_matches(proc.username(), self.user)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    def end_processes(self) -> tuple[int, int]:
        """Terminate, wait, kill. Returns (ended, survivors)."""
        return end_processes(self._selected, self.kill_timeout)

    # --------------------------------------------------------------- files

    def _wipe_dir(self, folder: Path, dev: int, real_root: str, errors: list[str]) -> int:
        if not _inside(os.path.realpath(folder), real_root):
            errors.append(f"{folder} resolves outside {real_root}")
            return 0
        removed = 0
        with os.scandir(folder) as it:
            entries = [Path(e.path) for e in it]
        for path in entries:
            try:
                st = os.lstat(path)
                if _is_real_dir(st):
                    if st.st_dev != dev or os.path.ismount(path):
                        errors.append(f"{path} is a mount point; another file system is not wiped")
                        continue
                    removed += self._wipe_dir(path, dev, real_root, errors)
                    self._remove(path)
                else:
                    self._remove(path)
                    removed += 1
            except OSError as exc:
                errors.append(f"cannot remove {path}: {exc.strerror or exc}")
        return removed

    def _wipe_root(self, root: Path, real: str, errors: list[str]) -> int:
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            return 0  # nothing was ever put there
        if not _is_real_dir(st):
            # The visitor replaced the folder by a link or a file: remove that entry only.
            self._remove(root)
            os.mkdir(root, 0o700)
            if self.user is not None and sys.platform != "win32":
                import pwd

                try:
                    pw = pwd.getpwnam(self.user)
                    os.chown(root, pw.pw_uid, pw.pw_gid)
                except KeyError:
                    pass
            return 1
        if os.path.realpath(root) != real:
            errors.append(f"{root} now resolves to {os.path.realpath(root)}, not {real}")
            return 0
        return self._wipe_dir(root, st.st_dev, real, errors)

    # --------------------------------------------------------------- reset

    def reset(self) -> ResetReport:
        errors: list[str] = []
        ended = removed = 0
        try:
            if self.logoff and self.logoff_command:
                code = self._run(self.logoff_command)
                if code != 0:  # not fatal: the processes are ended below anyway
                    log.warning("log-off %s exited with %s", self.logoff_command, code)
            ended, survivors = self.end_processes()
            if survivors:
                errors.append(f"{survivors} visitor process(es) survived kill")
            for root, real in self.roots:
                try:
                    removed += self._wipe_root(root, real, errors)
                except OSError as exc:
                    errors.append(f"cannot wipe {root}: {exc.strerror or exc}")
        except Exception as exc:  # reset() never raises: the agent locks the station instead
            log.exception("reset failed")
            errors.append(f"reset failed: {exc!r}")
        if errors:
            more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
            error = "; ".join(errors[:3]) + more
            return ResetReport(ok=False, files_removed=removed, processes_ended=ended, error=error)
        return ResetReport(ok=True, files_removed=removed, processes_ended=ended)
