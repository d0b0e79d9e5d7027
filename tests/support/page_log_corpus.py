"""Write the page_log corpus of ``tests/espace/page_log/`` from real cupsd runs.

Each case starts a private cupsd (``tests/support/cups.py``) with the settings it
names, prints with ``lp`` as a visitor would, and keeps what cupsd wrote: the
``page_log`` itself, the ``cupsd.conf`` it ran with, and ``expected.json`` (what
the test counts: one entry per job, its pages and originating host). Run as root,
inside a private network namespace (the IPv6 case adds ``fd00::1`` to that
namespace's loopback; nothing leaves it)::

    unshare --net sh -c 'ip link set lo up; exec .venv/bin/python -m tests.support.page_log_corpus'

The cases are the ones real stations meet (issue 14): a billing code and a job
name with spaces, ``LogTimeFormat usecs``, a server in a negative half-hour time
zone, a quoted ``PageLogFormat``, a backend that sends ``PAGE:`` lines as well
(per-page and ``total`` lines of one job), a job that fails once and is retried
(``ErrorPolicy retry-job``) and one restarted with ``lp -i N -H restart``, and
a client reaching the server over IPv6.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.cups import CupsInstance, private_cups, tiny_pdf

OUT = Path(__file__).resolve().parents[1] / "espace" / "page_log"
STANDARD = '"%p %u %j %T %P %C %{job-billing} %{job-originating-host-name} %{job-name} %{media} %{sides}"'
# A backend that fails the first time it sees a job (exit 1: CUPS_BACKEND_FAILED).
FAIL_ONCE = [
    'mark="$(dirname "$0")/../../failed-once-$1"',
    'if [ ! -e "$mark" ]; then : > "$mark"; echo "ERROR: paper path blocked (test)" >&2; exit 1; fi',
]


def _wait_lines(cups: CupsInstance, n: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = cups.page_log.read_text() if cups.page_log.exists() else ""
        if len(text.splitlines()) >= n:
            return text
        time.sleep(0.1)
    raise TimeoutError(f"page_log has fewer than {n} lines: {cups.log_tail()}")


def _save(name: str, cups: CupsInstance, text: str, expected: list[dict[str, object]], about: str) -> None:
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "page_log").write_text(text)
    (d / "cupsd.conf").write_text((cups.root / "cupsd.conf").read_text())
    # "written": when the jobs were logged (UTC epoch seconds), to check the parsed instants
    doc = {"about": about, "written": round(time.time()), "printer": cups.printer, "jobs": expected}
    (d / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{name}: {len(text.splitlines())} lines, {len(expected)} jobs", file=sys.stderr)


def case_billing(tmp: Path, pdf: Path) -> None:
    with private_cups(tmp, conf=f"PageLogFormat {STANDARD}") as cups:
        a = cups.lp(pdf, title="CV de Marie [v2]", copies=2, options=["job-billing=dept-12", "media=A4"])
        b = cups.lp(pdf, title="lettre localhost - -", copies=1, options=["job-billing=x"])
        c = cups.lp(pdf, title="plain", copies=3)
        cups.wait_jobs_done()
        text = _wait_lines(cups, 3)
        _save("names-with-spaces", cups, text, [
            {"job": a, "pages": 4, "host": "localhost"},
            {"job": b, "pages": 2, "host": "localhost"},
            {"job": c, "pages": 6, "host": "localhost"},
        ], "job names with spaces and brackets, one that looks like the host and media fields")


def case_usecs(tmp: Path, pdf: Path) -> None:
    with private_cups(tmp, conf=f"PageLogFormat {STANDARD}\nLogTimeFormat usecs") as cups:
        a = cups.lp(pdf, title="usecs", copies=1)
        cups.wait_jobs_done()
        text = _wait_lines(cups, 1)
        _save("log-time-usecs", cups, text, [{"job": a, "pages": 2, "host": "localhost"}], "LogTimeFormat usecs")


def case_zones(tmp: Path, pdf: Path) -> None:
    for zone, name in (("America/St_Johns", "zone-minus-0330"), ("Asia/Kolkata", "zone-plus-0530")):
        with private_cups(tmp, conf=f"PageLogFormat {STANDARD}", cupsd_env={"TZ": zone}) as cups:
            a = cups.lp(pdf, title=zone, copies=1)
            cups.wait_jobs_done()
            text = _wait_lines(cups, 1)
            _save(name, cups, text, [{"job": a, "pages": 2, "host": "localhost", "tz": zone}], f"cupsd with TZ={zone}")


def case_unquoted_and_default(tmp: Path, pdf: Path) -> None:
    with private_cups(tmp, conf="PageLogFormat %p %j %u %T %P %C %{job-originating-host-name}") as cups:
        a = cups.lp(pdf, title="short", copies=2)
        cups.wait_jobs_done()
        text = _wait_lines(cups, 1)
        _save("format-unquoted-short", cups, text, [{"job": a, "pages": 4, "host": "localhost"}], "an unquoted PageLogFormat of its own order")
    with private_cups(tmp) as cups:  # no PageLogFormat line: cupsd's built-in default
        a = cups.lp(pdf, title="default format", copies=1)
        cups.wait_jobs_done()
        text = _wait_lines(cups, 1)
        _save("format-built-in-default", cups, text, [{"job": a, "pages": 2, "host": "localhost"}], "no PageLogFormat in cupsd.conf")


def case_retry(tmp: Path, pdf: Path) -> None:
    conf = f"PageLogFormat {STANDARD}\nErrorPolicy retry-job\nJobRetryInterval 1\nPreserveJobFiles Yes"
    with private_cups(tmp, conf=conf, backend_before=FAIL_ONCE) as cups:
        a = cups.lp(pdf, title="fails once", copies=2)
        cups.wait_jobs_done(timeout=90)
        n = len(_wait_lines(cups, 1).splitlines())
        b = cups.lp(pdf, title="restarted", copies=1)
        cups.wait_jobs_done(timeout=90)
        n = len(_wait_lines(cups, n + 1).splitlines())
        cups.run("lp", "-h", cups.server, "-i", str(b), "-H", "restart")
        cups.wait_jobs_done(timeout=90)
        text = _wait_lines(cups, n + 1)
        _save("retried-and-restarted", cups, text, [
            {"job": a, "pages": 8, "host": "localhost"},
            {"job": b, "pages": 6, "host": "localhost"},
        ], "ErrorPolicy retry-job with a backend that fails once (job 1: failed, then printed 2 pages x 2 copies); "
           "job 2 (2 pages) failed once, printed, then lp -i 2 -H restart. cupsd's total lines are cumulative "
           "(job-impressions-completed counts every attempt): the job's figure is its last total line")


def case_ipv6(tmp: Path, pdf: Path) -> None:
    # Inside the private namespace only: a ULA address on lo; the client connects to it from
    # it, which cupsd does not count as localhost (only ::1 and 127.0.0.0/8 are)
    subprocess.run(["ip", "-6", "addr", "add", "fd00::1/128", "dev", "lo", "nodad"], check=True)
    with private_cups(tmp, conf=f"PageLogFormat {STANDARD}\nHostNameLookups Off\nListen {tmp}/ipv6-cups.sock", listen="[fd00::1]") as cups:
        a = cups.lp(pdf, title="over ipv6", copies=1)
        cups.wait_jobs_done()
        text = _wait_lines(cups, 1)
        _save("ipv6-client", cups, text, [{"job": a, "pages": 2, "host": "fd00::1"}], "a client reaching the server over IPv6 (cupsd writes [v1.ADDR])")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="espace-corpus-") as d:
        tmp = Path(d)
        tmp.chmod(0o755)
        pdf = tiny_pdf(tmp / "two.pdf", pages=2)
        pdf.chmod(0o644)
        cases = [case_billing, case_usecs, case_zones, case_unquoted_and_default, case_retry, case_ipv6]
        wanted = set(sys.argv[1:])
        for case in cases:
            if not wanted or case.__name__ in wanted:
                case(tmp, pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
