"""CUPS page_log parsing and tailing, on documented lines and on a real cupsd."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.probes.base import PrintRecord
from agent.probes.print_cups import (
    LOCAL_HOSTS,
    CupsPageLogTailer,
    PageLogAggregator,
    parse_cups_date,
    parse_page_log,
    parse_page_log_line,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # tests.support, without a conftest
from tests.support.cups import CupsInstance, tiny_pdf  # noqa: E402

T0 = datetime(2026, 11, 22, 3, 59, 12, tzinfo=UTC).timestamp()


def test_cups_2x_job_line() -> None:
    line = "VirtualPDF root 2 [22/Nov/2026:03:59:12 +0000] total 4 - localhost twopage A4 two-sided-long-edge"
    p = parse_page_log_line(line)
    assert p is not None
    assert (p.kind, p.printer, p.user, p.job_id, p.count) == ("total", "VirtualPDF", "root", 2, 4)
    assert (p.billing, p.host, p.title, p.media, p.sides) == (
        "",
        "localhost",
        "twopage",
        "A4",
        "two-sided-long-edge",
    )
    assert p.at == T0
    assert p.record() == PrintRecord(
        job="2",
        printer="VirtualPDF",
        pages=4,
        at=T0,
        host="localhost",
        user="root",
        title="twopage",
    )


@pytest.mark.parametrize(
    "name",
    [
        "Odd [name] with spaces",
        "[a] [b]",
        "report 2026 [final] (v2) - copy",
        "x",
        "ends with bracket ]",
    ],
)
def test_odd_job_names_are_parsed_from_both_ends(name: str) -> None:
    line = f"HP_Hall pc-07 115 [01/Feb/2026:10:00:00 +0100] total 3 dept-12 pc-07.espace.lan {name} iso_a4_210x297mm one-sided"
    p = parse_page_log_line(line)
    assert p is not None
    assert p.title == name
    assert (p.job_id, p.count, p.billing, p.host) == (115, 3, "dept-12", "pc-07.espace.lan")
    assert (p.media, p.sides) == ("iso_a4_210x297mm", "one-sided")
    assert p.at == datetime(2026, 2, 1, 9, 0, tzinfo=UTC).timestamp()


def test_dashes_are_empty_fields() -> None:
    p = parse_page_log_line("Laser - 9 [22/Nov/2026:03:59:12 -0130] total 1 - - - - -")
    assert p is not None
    assert (p.user, p.billing, p.host, p.title, p.media, p.sides) == ("", "", "", "", "", "")
    assert p.at == T0 + 5400


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "VirtualPDF root x [22/Nov/2026:03:59:12 +0000] total 4 - localhost t A4 one-sided",
        "VirtualPDF root 2 [22/Foo/2026:03:59:12 +0000] total 4 - localhost t A4 one-sided",
        "VirtualPDF root 2 [22/Nov/2026:03:59:12 +0000] sum 4 - localhost t A4 one-sided",
        "VirtualPDF root 2 [22/Nov/2026:03:59:12 +0000] total many - localhost t A4 one-sided",
        "VirtualPDF root 2 22/Nov/2026:03:59:12 +0000 total 4 - localhost t A4 one-sided",
    ],
)
def test_lines_that_are_not_page_log_lines(line: str) -> None:
    assert parse_page_log_line(line) is None


def test_date_parsing_is_locale_free() -> None:
    assert parse_cups_date("22/Nov/2026:03:59:12 +0000") == T0
    assert parse_cups_date("22/nov/2026:04:59:12 +0100") == T0
    assert parse_cups_date("31/Feb/2026:00:00:00 +0000") is None


CUPS1 = """\
Laser alice 41 [10/Mar/2009:09:00:01 +0100] 1 2 - pc-03 Budget [Q1] final.xls A4 one-sided
Laser alice 41 [10/Mar/2009:09:00:02 +0100] 2 2 - pc-03 Budget [Q1] final.xls A4 one-sided
Laser alice 41 [10/Mar/2009:09:00:03 +0100] 3 2 - pc-03 Budget [Q1] final.xls A4 one-sided
Laser bob 42 [10/Mar/2009:09:01:00 +0100] 1 1 - pc-04 cv.pdf A4 one-sided
Laser bob 42 [10/Mar/2009:09:01:01 +0100] 1 1 - pc-04 cv.pdf A4 one-sided
Laser carol 43 [10/Mar/2009:09:02:00 +0100] 1 1 acct
"""


def test_cups_1x_page_lines_aggregate_per_job() -> None:
    records = parse_page_log(CUPS1)
    assert [(r.job, r.pages, r.host, r.title, r.user) for r in records] == [
        ("41", 6, "pc-03", "Budget [Q1] final.xls", "alice"),  # 3 pages x 2 copies
        ("42", 2, "pc-04", "cv.pdf", "bob"),  # software copies: page 1 twice
        ("43", 1, "", "", "carol"),  # the oldest format stops after billing
    ]
    assert records[0].at == datetime(2009, 3, 10, 8, 0, 1, tzinfo=UTC).timestamp()


def test_aggregator_flushes_on_new_job_and_on_total_line() -> None:
    agg = PageLogAggregator()
    lines = [parse_page_log_line(x) for x in CUPS1.splitlines()[:3]]
    total = parse_page_log_line(
        "Laser root 50 [10/Mar/2009:10:00:00 +0000] total 5 - localhost t A4 one-sided"
    )
    assert all(lines)
    assert total is not None
    out = [r for line in lines if line for r in agg.feed(line)]
    assert out == []
    out = agg.feed(total)
    assert [(r.job, r.pages) for r in out] == [("41", 6), ("50", 5)]
    assert agg.flush() == []


# ------------------------------------------------------------------ the tailer


def _line(job: int, pages: int = 1, host: str = "localhost", name: str = "doc") -> str:
    return f"VirtualPDF root {job} [22/Nov/2026:03:59:12 +0000] total {pages} - {host} {name} A4 one-sided\n"


@pytest.fixture
def tailer_for() -> Iterator[Callable[..., CupsPageLogTailer]]:
    made: list[CupsPageLogTailer] = []

    def make(path: Path, **kwargs: Any) -> CupsPageLogTailer:
        made.append(CupsPageLogTailer(path, **kwargs))
        return made[-1]

    yield make
    for tailer in made:
        tailer.close()


def _jobs(records: list[PrintRecord]) -> list[str]:
    return [r.job for r in records]


def test_tailer_reads_new_lines_once(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    tailer = tailer_for(log)
    assert tailer.poll() == []  # missing file: nothing, no exception
    log.write_text(_line(1) + _line(2))
    assert _jobs(tailer.poll()) == ["1", "2"]
    assert tailer.poll() == []
    with log.open("a") as f:
        f.write(_line(3, name="a [b] c"))
    got = tailer.poll()
    assert _jobs(got) == ["3"]
    assert got[0].title == "a [b] c"


def test_tailer_consumes_complete_lines_only(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    whole = _line(7, pages=3)
    log.write_text(_line(6) + whole[:25])
    tailer = tailer_for(log)
    assert _jobs(tailer.poll()) == ["6"]
    assert tailer.poll() == []
    with log.open("a") as f:
        f.write(whole[25:])
    got = tailer.poll()
    assert [(r.job, r.pages) for r in got] == [("7", 3)]


def test_tailer_survives_rotation_and_finishes_the_old_file(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.write_text(_line(1))
    tailer = tailer_for(log)
    assert _jobs(tailer.poll()) == ["1"]
    with log.open("a") as f:  # written just before logrotate renames the file
        f.write(_line(2))
    log.rename(tmp_path / "page_log.1")
    assert _jobs(tailer.poll()) == ["2"]  # path missing: the old file is finished
    log.write_text(_line(3))
    assert _jobs(tailer.poll()) == ["3"]
    # rotation with the new file already in place
    with log.open("a") as f:
        f.write(_line(4))
    log.rename(tmp_path / "page_log.2")
    log.write_text(_line(5) + _line(6))
    assert _jobs(tailer.poll()) == ["4", "5", "6"]
    assert tailer.poll() == []


def test_tailer_restarts_after_truncation(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.write_text(_line(1) + _line(2))
    tailer = tailer_for(log)
    assert _jobs(tailer.poll()) == ["1", "2"]
    with log.open("r+") as f:  # copytruncate
        f.truncate(0)
    with log.open("a") as f:
        f.write(_line(3))
    assert _jobs(tailer.poll()) == ["3"]


def test_tailer_reopens_at_its_offset_after_close(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.write_text(_line(1))
    tailer = tailer_for(log)
    assert _jobs(tailer.poll()) == ["1"]
    tailer.close()
    with log.open("a") as f:
        f.write(_line(2))
    assert _jobs(tailer.poll()) == ["2"]


def test_tailer_unreadable_file_gives_nothing(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.mkdir()  # exists but cannot be read as a file
    tailer = tailer_for(log)
    assert tailer.poll() == []
    log.rmdir()
    log.write_text(_line(1))
    assert _jobs(tailer.poll()) == ["1"]


def test_tailer_flushes_cups1_jobs_on_poll_and_filters_hosts(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.write_text(CUPS1)
    assert [(r.job, r.pages) for r in tailer_for(log).poll()] == [("41", 6), ("42", 2), ("43", 1)]
    assert _jobs(tailer_for(log, hosts={"PC-04"}).poll()) == ["42"]
    log.write_text(_line(1) + _line(2, host="10.0.0.7") + _line(3, host="::1"))
    assert _jobs(tailer_for(log, hosts=LOCAL_HOSTS).poll()) == ["1", "3"]


def test_tailer_can_skip_history(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    log = tmp_path / "page_log"
    log.write_text(_line(1))
    tailer = tailer_for(log, start_at_end=True)
    assert tailer.poll() == []
    with log.open("a") as f:
        f.write(_line(2))
    assert _jobs(tailer.poll()) == ["2"]


def test_skipping_history_means_before_the_tailer_existed_not_before_its_first_poll(
    tmp_path: Path, tailer_for: Callable[..., CupsPageLogTailer]
) -> None:
    """The service polls every few seconds: a job printed between its start and that first poll counts."""
    log = tmp_path / "page_log"
    log.write_text(_line(1))
    tailer = tailer_for(log, start_at_end=True)
    with log.open("a") as f:
        f.write(_line(2))
    assert _jobs(tailer.poll()) == ["2"]
    late = tmp_path / "later_log"  # a log that appears after the start: all of it is new
    tailer = tailer_for(late, start_at_end=True)
    late.write_text(_line(3))
    assert _jobs(tailer.poll()) == ["3"]


# ------------------------------------------------------------------ a real cupsd


def _poll_until(tailer: CupsPageLogTailer, want: int, timeout: float = 30) -> list[PrintRecord]:
    got: list[PrintRecord] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < want:
        got += tailer.poll()
        if len(got) < want:
            time.sleep(0.1)
    return got


def test_real_cupsd_two_pages_two_copies_is_one_job_of_four(
    cups: CupsInstance, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pdf = tiny_pdf(tmp_path / "two.pdf", pages=2)
    tailer = CupsPageLogTailer(cups.page_log, hosts=LOCAL_HOSTS)
    request.addfinalizer(tailer.close)
    assert tailer.poll() == []
    title = "CV [final] v2 (copy)"
    job = cups.lp(pdf, title=title, copies=2, options=["media=A4", "sides=two-sided-long-edge"])
    got = _poll_until(tailer, 1)
    assert len(got) == 1, cups.log_tail()
    rec = got[0]
    assert (rec.job, rec.printer, rec.pages, rec.title, rec.host) == (
        str(job),
        "VirtualPDF",
        4,
        title,
        "localhost",
    )
    assert abs(rec.at - time.time()) < 3600  # a sane UTC instant, not a timing assertion
    # a second job, on the same tailer
    job2 = cups.lp(pdf, title="one", copies=1)
    got = _poll_until(tailer, 1)
    assert [(r.job, r.pages) for r in got] == [(str(job2), 2)]
    assert tailer.poll() == []
    lines = cups.page_log.read_text().splitlines()
    assert len(lines) == 2
    assert " total 4 " in lines[0]
    assert os.path.getsize(cups.page_log) == tailer.offset
