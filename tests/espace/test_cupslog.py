"""page_log as real cupsd runs write it: the corpus in ``page_log/``, counted once per job.

Each folder holds a ``page_log``, the ``cupsd.conf`` it was written with, and
``expected.json`` (the jobs and their pages). Most were written by Debian 12's
cupsd (``tests/support/page_log_corpus.py`` made them); the two that this cupsd
cannot write say so in their ``about``.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from espace.cupslog import (
    DEFAULT_FORMAT,
    LOCAL_HOSTS,
    PageLogTailer,
    normalize_host,
    parse_cups_date,
    read_page_log_format,
)

CORPUS = Path(__file__).parent / "page_log"
ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").exists())


def _expected(case: str) -> dict:
    return json.loads((CORPUS / case / "expected.json").read_text())


def _per_job(records) -> dict[tuple[int, str], int]:
    jobs: dict[tuple[int, str], int] = defaultdict(int)
    for r in records:
        jobs[(int(r.job), normalize_host(r.host))] += r.pages
    return dict(jobs)


def test_the_corpus_covers_every_case_of_issue_14() -> None:
    assert {
        "billing-with-spaces", "names-with-spaces", "log-time-usecs", "zone-minus-0330", "zone-plus-0530",
        "format-unquoted-short", "format-built-in-default", "page-lines-and-total", "retried-and-restarted", "ipv6-client",
    } <= set(CASES)  # fmt: skip
    assert (CORPUS / "names-with-spaces" / "page_log").read_text().startswith('"')  # a quoted PageLogFormat, as cupsd writes it


@pytest.mark.parametrize("case", CASES)
def test_every_job_counted_once_with_its_pages_host_and_instant(case: str) -> None:
    want = _expected(case)
    d = CORPUS / case
    with PageLogTailer(d / "page_log", expect_hosts=want.get("hosts"), cupsd_conf=d / "cupsd.conf") as tailer:
        records = tailer.poll()
        assert tailer.problem is None
    assert _per_job(records) == {(j["job"], j["host"]): j["pages"] for j in want["jobs"]}
    for r in records:  # the instant, in UTC, whatever zone and precision cupsd wrote; no quotes kept
        assert abs(r.at - want["written"]) < 120, (r, want["written"])
        assert r.printer == want["printer"]


@pytest.mark.parametrize("case", [c for c in CASES if all(j["host"] == "localhost" for j in _expected(c)["jobs"])])
def test_a_station_counts_the_same_jobs_from_its_own_log(case: str) -> None:
    """The station keeps only local jobs: a job whose line parsed wrongly would be lost here."""
    want = _expected(case)
    d = CORPUS / case
    with PageLogTailer(d / "page_log", hosts=LOCAL_HOSTS, cupsd_conf=d / "cupsd.conf") as tailer:
        assert _per_job(tailer.poll()) == {(j["job"], "localhost"): j["pages"] for j in want["jobs"]}


def test_a_retried_job_read_line_by_line_counts_its_last_total(tmp_path: Path) -> None:
    """The tailer meets the repeated totals over several polls, and after an agent restart."""
    lines = (CORPUS / "retried-and-restarted" / "page_log").read_text().splitlines(keepends=True)
    log = tmp_path / "page_log"
    log.write_text("")
    conf = CORPUS / "retried-and-restarted" / "cupsd.conf"
    with PageLogTailer(log, cupsd_conf=conf) as tailer:
        got = []
        for line in lines[:4]:
            with log.open("a") as f:
                f.write(line)
            got += tailer.poll()
    assert [(r.job, r.pages) for r in got] == [("1", 4), ("1", 4), ("2", 2), ("2", 2)]
    # the agent restarts (it skips history, but remembers it); then job 2 is restarted once more
    with PageLogTailer(log, cupsd_conf=conf, start_at_end=True) as tailer:
        with log.open("a") as f:
            f.write(lines[4])
        assert [(r.job, r.pages) for r in tailer.poll()] == [("2", 2)]


def test_a_reused_job_id_with_a_lower_total_is_a_new_job(tmp_path: Path) -> None:
    log = tmp_path / "page_log"
    log.write_text(
        "P root 3 [02/Dec/2026:10:00:00 +0000] total 8 - localhost a A4 -\n"
        "P root 3 [03/Dec/2026:10:00:00 +0000] total 2 - localhost a A4 -\n"  # spool wiped: ids start again
    )
    with PageLogTailer(log) as tailer:
        assert [r.pages for r in tailer.poll()] == [8, 2]


def test_debian_ships_page_logging_off_and_the_station_says_so(tmp_path: Path) -> None:
    shipped = CORPUS / "debian-12-shipped" / "cupsd.conf"
    assert re.search(r"^PageLogFormat\s*$", shipped.read_text(), flags=re.M)  # as the cups package ships it
    assert read_page_log_format(shipped) == ""
    with PageLogTailer(tmp_path / "page_log", cupsd_conf=shipped) as tailer:
        assert tailer.poll() == []
        assert tailer.problem is not None
        assert "PageLogFormat" in tailer.problem


def test_the_install_step_of_the_station_readme_turns_page_logging_on(tmp_path: Path) -> None:
    """The README's own command, run on a copy of Debian's file: the format becomes cupsd's default."""
    readme = (ROOT / "deploy" / "station" / "README.md").read_text()
    steps = [line for line in readme.splitlines() if line.startswith("sed ") and "cupsd.conf" in line]
    assert len(steps) == 1, steps
    conf = tmp_path / "cupsd.conf"
    conf.write_text((CORPUS / "debian-12-shipped" / "cupsd.conf").read_text())
    argv = [str(conf) if a == "/etc/cups/cupsd.conf" else a for a in shlex.split(steps[0])]
    subprocess.run(argv, check=True)
    assert read_page_log_format(conf) == DEFAULT_FORMAT
    with PageLogTailer(tmp_path / "page_log", cupsd_conf=conf) as tailer:
        tailer.poll()
        assert tailer.problem is None
    subprocess.run(argv, check=True)  # run twice (a re-install): still the default, nothing broken
    assert read_page_log_format(conf) == DEFAULT_FORMAT


def test_a_quoted_format_and_no_format() -> None:
    assert read_page_log_format(CORPUS / "names-with-spaces" / "cupsd.conf").startswith('"%p ')
    assert read_page_log_format(CORPUS / "format-built-in-default" / "cupsd.conf") == DEFAULT_FORMAT


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("02/Dec/2026:01:47:37 -03-30", "2026-12-02T05:17:37"),  # cupsd's own form of -03:30
        ("02/Dec/2026:01:47:37 -0330", "2026-12-02T05:17:37"),
        ("02/Dec/2026:10:47:38 +0530", "2026-12-02T05:17:38"),
        ("[02/Dec/2026:05:17:36.183038 +0000]", "2026-12-02T05:17:36.183038"),
    ],
)
def test_dates_in_every_form_cupsd_writes(text: str, utc: str) -> None:
    from datetime import UTC, datetime

    assert parse_cups_date(text) == pytest.approx(datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp())


def test_hosts_as_cupsd_writes_them() -> None:
    assert normalize_host("[v1.fd00::1]") == "fd00::1"
    assert normalize_host("[v1.fe80::1+eth0]") == "fe80::1%eth0"
    assert normalize_host("[v1.::ffff:10.0.0.8]") == "10.0.0.8"
    assert normalize_host("PC-07.Espace.LAN.") == "pc-07.espace.lan"
