"""A private, loopback-only cupsd with a virtual PDF printer, for tests.

Recipe from TESTING-NOTES.md ("CUPS with a virtual PDF printer"):

* cupsd listens on ``127.0.0.1:<free port>`` only, with ``Browsing Off``,
  ``BrowseLocalProtocols none`` and ``WebInterface No``; every file it writes
  (spool, cache, state, logs, ``page_log``) lives under one private directory.
* Its ``ServerBin`` is a private copy of ``/usr/lib/cups`` (symlinks) holding
  **only** the ``cups-pdf`` backend and, when asked, a wrapper backend that
  reports marker levels and ``STATE: +toner-low-report`` before handing the
  job to cups-pdf. No network-discovering backend (snmp, dnssd, ...) is
  reachable, so even a stray ``lpinfo -v`` could not broadcast. Never run
  ``lpinfo -v`` anyway.
* cups-pdf reads its settings only from ``/etc/cups/cups-pdf-<name>.conf``;
  the helper writes one with a unique name pointing into the private
  directory and removes it in :meth:`CupsInstance.stop`.
* cupsd runs in its own process group (``start_new_session``); stopping kills
  the whole group (filters and backends included), SIGKILL after a deadline.

Needs root (cupsd drops to ``lp`` for filters; cups-pdf runs as root).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

CUPSD = shutil.which("cupsd") or ("/usr/sbin/cupsd" if Path("/usr/sbin/cupsd").exists() else None)
CUPS_LIB = Path("/usr/lib/cups")
CUPS_PDF_BACKEND = CUPS_LIB / "backend" / "cups-pdf"
CUPS_PDF_PPD = "lsb/usr/cups-pdf/CUPS-PDF_opt.ppd"
WRAPPER_SCHEME = "espace-pdf"

# (name, level 0-100, colour) as reported by the wrapper backend
Marker = tuple[str, int, str]


def cups_missing_reason() -> str | None:
    """Why a private cupsd cannot run here, or None when it can (for ``pytest.skip``)."""
    if CUPSD is None or shutil.which("lp") is None or shutil.which("lpadmin") is None:
        return "cups is not installed (apt-get install cups printer-driver-cups-pdf)"
    if not CUPS_PDF_BACKEND.exists():
        return "cups-pdf is not installed (apt-get install printer-driver-cups-pdf)"
    if os.geteuid() != 0:
        return "a private cupsd with cups-pdf needs root"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host.strip("[]"), port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class CupsInstance:
    """A running private cupsd; a context manager that stops it on exit."""

    port: int
    page_log: Path
    printer: str
    root: Path
    out_dir: Path
    error_log: Path
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = None
    _cleanup: list[Path] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUPS_")}
        env["CUPS_SERVER"] = self.server
        return env

    def run(self, *args: str, timeout: float = 30) -> str:
        """Run a CUPS client command against this instance; stdout, or RuntimeError."""
        done = subprocess.run(
            list(args), capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )
        return done.stdout

    def lp(
        self, file: Path, title: str = "job", copies: int = 1, options: Sequence[str] = ()
    ) -> int:
        """Submit ``file`` with ``lp -h``; the CUPS job id."""
        args = ["lp", "-h", self.server, "-d", self.printer, "-t", title, "-n", str(copies)]
        for opt in options:
            args += ["-o", opt]
        out = self.run(*args, str(file))
        found = re.search(rf"{re.escape(self.printer)}-(\d+)", out)
        if not found:
            raise RuntimeError(f"lp gave no job id: {out!r}")
        return int(found.group(1))

    def add_printer(self, name: str, device_uri: str, model: str = "raw") -> None:
        """Another queue (e.g. ``ipp://127.0.0.1:<port>/printers/X`` with ``extra_backends=["ipp"]``)."""
        self.run("lpadmin", "-h", self.server, "-p", name, "-E", "-v", device_uri, "-m", model)

    def disable(self, reason: str) -> None:
        self.run("cupsdisable", "-h", self.server, "-r", reason, self.printer)

    def enable(self) -> None:
        self.run("cupsenable", "-h", self.server, self.printer)

    def wait_jobs_done(self, timeout: float = 30) -> None:
        """Poll until the printer has no pending job (deadline, not luck)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.run("lpstat", "-h", self.server, "-o", self.printer).strip():
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"jobs still pending on {self.printer} after {timeout}s; {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error_log)"

    def _kill(self) -> None:
        """Stop cupsd and everything in its process group (filters, backends)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        try:
            self._kill()
        finally:
            for path in self._cleanup:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            self._cleanup.clear()

    def __enter__(self) -> CupsInstance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _traversable(path: Path) -> bool:
    """True when user ``lp`` can reach ``path`` (every ancestor o+x)."""
    for part in [path, *path.parents]:
        if not os.stat(part).st_mode & 0o001:
            return False
    return True


def _server_bin(root: Path, wrapper: str | None, extra_backends: Sequence[str] = ()) -> Path:
    """A private ServerBin: the system's tools, but only the backends we want."""
    bin_dir = root / "lib"
    bin_dir.mkdir(mode=0o755)
    for entry in CUPS_LIB.iterdir():
        if entry.name not in ("backend", "backend-available"):
            (bin_dir / entry.name).symlink_to(entry)
    backends = bin_dir / "backend"
    backends.mkdir(mode=0o755)
    shutil.copy2(CUPS_PDF_BACKEND, backends / "cups-pdf")
    os.chmod(backends / "cups-pdf", 0o700)
    for name in extra_backends:  # e.g. "ipp", to forward to another private cupsd
        (backends / name).symlink_to(CUPS_LIB / "backend" / name)
    if wrapper is not None:
        path = backends / WRAPPER_SCHEME
        path.write_text(wrapper)
        os.chmod(path, 0o700)
    return bin_dir


def _wrapper_script(
    pdf_name: str, backend_dir: Path, markers: Sequence[Marker], reasons: Sequence[str],
    before: Sequence[str] = (),
) -> str:
    lines = ["#!/bin/sh", "# Espace test backend: report supplies, then print with cups-pdf."]
    lines.append(
        f'if [ $# -eq 0 ]; then echo \'direct {WRAPPER_SCHEME} "Unknown" "Espace test PDF"\'; exit 0; fi'
    )
    lines += before  # shell lines run first (a backend that fails once, PAGE: messages)
    if markers:
        names = ",".join(m[0] for m in markers)
        levels = ",".join(str(m[1]) for m in markers)
        colors = ",".join(m[2] for m in markers)
        types = ",".join("toner" for _ in markers)
        lines += [
            f"echo 'ATTR: marker-names={names}' >&2",
            f"echo 'ATTR: marker-levels={levels}' >&2",
            f"echo 'ATTR: marker-colors={colors}' >&2",
            f"echo 'ATTR: marker-types={types}' >&2",
        ]
    for reason in reasons:
        lines.append(f"echo 'STATE: +{reason}' >&2")
    lines += [
        f"DEVICE_URI=cups-pdf:/{pdf_name}",
        "export DEVICE_URI",
        f'exec {backend_dir}/cups-pdf "$@"',
        "",
    ]
    return "\n".join(lines)


def private_cups(
    tmp_path: Path,
    *,
    printer: str = "VirtualPDF",
    markers: Sequence[Marker] | None = None,
    reasons: Sequence[str] = ("toner-low-report",),
    extra_backends: Sequence[str] = (),
    timeout: float = 15,
    conf: str = "",
    backend_before: Sequence[str] = (),
    cupsd_env: dict[str, str] | None = None,
    listen: str = "127.0.0.1",
) -> CupsInstance:
    """Start a private cupsd with one cups-pdf queue; use as ``with private_cups(tmp) as cups:``.

    With ``markers`` (e.g. ``[("Black", 42, "#000000"), ("Cyan", 7, "#00FFFF")]``)
    the queue prints through a wrapper backend that reports those levels and
    ``reasons`` after each job. ``extra_backends`` links more system backends
    into the private ServerBin (only loopback ones make sense: ``ipp``). ``conf``: more
    cupsd.conf directives (``PageLogFormat``, ``LogTimeFormat usecs``); ``backend_before``:
    shell lines the wrapper backend runs before cups-pdf (it is used whenever they or
    ``markers`` are given); ``cupsd_env``: more environment for cupsd (``TZ``); ``listen``:
    the address cupsd listens on (``[fd00::1]`` inside a private network namespace).
    Raises RuntimeError when CUPS is missing or cupsd does not come up.
    """
    missing = cups_missing_reason()
    if missing is not None:
        raise RuntimeError(missing)
    assert CUPSD is not None
    tmp_path = Path(tmp_path)
    # filters run as lp: the root must be reachable by it (pytest's tmp_path is 0700)
    root = Path(
        tempfile.mkdtemp(prefix="espace-cups-", dir=tmp_path if _traversable(tmp_path) else None)
    )
    os.chmod(root, 0o755)
    pdf_name = f"espace-{secrets.token_hex(4)}"
    cups_pdf_conf = Path(f"/etc/cups/cups-pdf-{pdf_name}.conf")
    inst = CupsInstance(
        port=0,
        page_log=root / "log" / "page_log",
        printer=printer,
        root=root,
        out_dir=root / "out",
        error_log=root / "log" / "error_log",
        host=listen,
        _cleanup=[cups_pdf_conf, root],
    )
    try:
        for name in (
            "etc",
            "etc/ppd",
            "etc/ssl",
            "spool",
            "spool/tmp",
            "cache",
            "state",
            "log",
            "out",
            "pdf-spool",
        ):
            (root / name).mkdir(mode=0o755, exist_ok=True)
        os.chmod(root / "out", 0o1777)
        if tmp_path != root.parent:
            link = tmp_path / "cups-root"
            if not link.exists():
                link.symlink_to(root)
        wrapper = None
        if markers is not None or backend_before:
            wrapper = _wrapper_script(pdf_name, root / "lib" / "backend", markers or (), reasons if markers is not None else (), backend_before)
        _server_bin(root, wrapper, extra_backends)
        cups_pdf_conf.write_text(
            f"Out {root}/out/${{USER}}\nAnonDirName {root}/out/anonymous\n"
            f"Spool {root}/pdf-spool\nLog {root}/log\nGrp lp\n"
        )
        files_conf = root / "cups-files.conf"
        files_conf.write_text(
            "\n".join(
                [
                    f"ServerRoot {root}/etc",
                    f"ServerBin {root}/lib",
                    f"RequestRoot {root}/spool",
                    f"TempDir {root}/spool/tmp",
                    f"CacheDir {root}/cache",
                    f"StateDir {root}/state",
                    f"AccessLog {root}/log/access_log",
                    f"ErrorLog {root}/log/error_log",
                    f"PageLog {root}/log/page_log",
                    f"Printcap {root}/printcap",
                    "User lp",
                    "Group lp",
                    "FileDevice No",
                    "",
                ]
            )
        )
        cupsd_conf = root / "cupsd.conf"
        for _attempt in range(3):
            inst.port = _free_port()
            cupsd_conf.write_text(_cupsd_conf(inst.port, listen) + conf + "\n")
            check = subprocess.run(
                [CUPSD, "-t", "-c", str(cupsd_conf), "-s", str(files_conf)],
                capture_output=True,
                text=True,
            )
            if check.returncode != 0:
                raise RuntimeError(
                    f"cupsd rejected the private configuration: {(check.stderr + check.stdout).strip()}"
                )
            proc = subprocess.Popen(
                [CUPSD, "-f", "-c", str(cupsd_conf), "-s", str(files_conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("CUPS_")} | (cupsd_env or {}),
            )
            inst._proc = proc
            if _wait_port(inst.port, proc, timeout, listen):
                break
            inst._kill()
        else:
            raise RuntimeError(f"cupsd did not start on 127.0.0.1; {inst.log_tail()}")
        uri = f"{WRAPPER_SCHEME}:/{pdf_name}" if wrapper is not None else f"cups-pdf:/{pdf_name}"
        inst.run("lpadmin", "-h", inst.server, "-p", printer, "-E", "-v", uri, "-m", CUPS_PDF_PPD)
        return inst
    except BaseException:
        inst.stop()
        raise


def _cupsd_conf(port: int, listen: str = "127.0.0.1") -> str:
    # an IPv6 listener (a private namespace only) admits its /64, where the test's client is
    allow = f"[{ipaddress.ip_network(listen.strip('[]') + '/64', strict=False).network_address}]/64" if ":" in listen else listen
    return f"""LogLevel info
MaxLogSize 0
Listen {listen}:{port}
Browsing Off
BrowseLocalProtocols none
WebInterface No
DefaultAuthType None
DefaultEncryption Never
PreserveJobHistory Yes
ServerAlias *
<Location />
  Order allow,deny
  Allow from 127.0.0.1
  Allow from {allow}
</Location>
<Location /admin>
  Order allow,deny
  Allow from 127.0.0.1
  Allow from {allow}
</Location>
<Policy default>
  JobPrivateValues none
  SubscriptionPrivateValues none
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""


def tiny_pdf(path: Path, pages: int = 2) -> Path:
    """Write a minimal valid PDF of ``pages`` A4 pages, each with a line of text."""
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i in range(pages):
        content = f"BT /F1 24 Tf 72 720 Td (Espace page {i + 1}) Tj ET".encode()
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path
