"""Print-server accounting: attribution by host, session matching, the dedupe key."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.probes.base import PrintRecord
from agent.probes.print_cups import LOCAL_HOSTS, CupsPageLogTailer
from controller.printers import (
    HostMap,
    ServerPrintJob,
    ServerPrintLog,
    accounted_by_server,
    job_key,
    match_session,
    normalize_host,
    record_key,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # tests.support, without a conftest
from tests.support.cups import CupsInstance, cups_missing_reason, private_cups, tiny_pdf  # noqa: E402

HOSTS = {"pc-07": "pc07", "10.0.0.8": "pc08", "PC-09.espace.lan.": "pc09", "fe80::1": "tab01"}


def _line(job: int, host: str, printer: str = "HP_Hall", pages: int = 2) -> str:
    return f"{printer} nobody {job} [19/Nov/2026:10:00:00 +0000] total {pages} - {host} doc [x] A4 one-sided\n"


def test_job_key_is_printer_and_job_id() -> None:
    assert job_key("HP_Hall", 42) == "hp_hall#42"
    assert job_key("hp_hall", "42") == job_key("HP_Hall", 42)
    assert job_key("HP_Hall", 42) != job_key("HP_Hall", 43)
    assert job_key("HP_Hall", 42) != job_key("Colour", 42)
    assert job_key("HP_Hall", 42, "PC07") == "pc07/hp_hall#42"
    assert job_key("HP_Hall", 1, "pc07") != job_key("HP_Hall", 1, "pc08")
    # the job's instant, in whole seconds: a re-read keeps it, an id reused after a spool wipe does not
    assert job_key("HP_Hall", 42, "pc07", at=1763550000.4) == "pc07/hp_hall#42@1763550000"
    assert job_key("HP_Hall", 1, at=1000.2) == job_key("HP_Hall", 1, at=1000.9)
    assert job_key("HP_Hall", 1, at=1000.0) != job_key("HP_Hall", 1, at=90_000.0)


def test_accounted_by_server() -> None:
    assert accounted_by_server("hp_hall", {"HP_Hall", "Colour"})
    assert not accounted_by_server("USB_Laser", {"HP_Hall"})


@pytest.mark.parametrize(
    ("host", "station"),
    [
        ("pc-07", "pc07"),
        ("PC-07.espace.lan", "pc07"),  # FQDN matches the short name
        ("10.0.0.8", "pc08"),
        ("::ffff:10.0.0.8", "pc08"),  # IPv4-mapped
        ("pc-09.espace.lan", "pc09"),
        ("[fe80::1]", "tab01"),
        ("10.0.0.99", None),
        ("", None),
    ],
)
def test_host_attribution(host: str, station: str | None) -> None:
    assert HostMap(HOSTS).station_for(host) == station


def test_normalize_host() -> None:
    assert normalize_host(" PC-07.Espace.LAN. ") == "pc-07.espace.lan"
    assert normalize_host("::FFFF:10.0.0.8") == "10.0.0.8"


@dataclass
class Sess:
    id: str
    station: str
    start: float
    end: float | None


SESSIONS = [
    Sess("s1", "pc07", 1000.0, 4600.0),
    Sess("s2", "pc07", 4600.0, None),  # running
    Sess("s3", "pc08", 1000.0, 2000.0),
]


@pytest.mark.parametrize(
    ("at", "station", "grace", "expected"),
    [
        (1000.0, "pc07", 0.0, "s1"),
        (4599.9, "pc07", 0.0, "s1"),
        (4600.0, "pc07", 0.0, "s2"),  # ends are exclusive: the next session owns the instant
        (99999.0, "pc07", 0.0, "s2"),
        (999.0, "pc07", 0.0, None),
        (1500.0, "pc08", 0.0, "s3"),
        (2060.0, "pc08", 0.0, None),
        (2060.0, "pc08", 120.0, "s3"),  # the printer finished after the session ended
        (2200.0, "pc08", 120.0, None),
        (1500.0, "pc09", 0.0, None),
        (1500.0, None, 0.0, None),
    ],
)
def test_match_session(at: float, station: str | None, grace: float, expected: str | None) -> None:
    assert match_session(at, station, SESSIONS, grace=grace) == expected


def test_match_session_accepts_store_rows() -> None:
    rows = [{"id": "r1", "station": "pc07", "start": 0.0, "end": None, "lang": "fr"}]
    assert match_session(10.0, "pc07", rows) == "r1"


def test_server_log_attributes_jobs_by_originating_host(tmp_path: Path) -> None:
    log = tmp_path / "page_log"
    log.write_text(_line(1, "pc-07.espace.lan") + _line(2, "10.0.0.8") + _line(3, "staff-pc"))
    server = ServerPrintLog(log, HOSTS)
    try:
        jobs = server.poll()
        assert [(j.key, j.station, j.record.pages) for j in jobs] == [
            (job_key("HP_Hall", 1, at=jobs[0].record.at), "pc07", 2),
            (job_key("HP_Hall", 2, at=jobs[1].record.at), "pc08", 2),
            (job_key("HP_Hall", 3, at=jobs[2].record.at), None, 2),  # not a station: still counted per printer, on no session
        ]
        assert server.poll() == []
    finally:
        server.close()


def test_agent_record_and_server_record_of_one_job_share_a_key() -> None:
    agent = PrintRecord(job="57", printer="HP_Hall", pages=3, at=1000.0, host="localhost")
    server = ServerPrintJob(
        key=job_key("HP_Hall", 57, at=1000.4),
        station="pc07",
        record=PrintRecord(job="57", printer="HP_Hall", pages=3, at=1000.4, host="pc-07"),
    )
    assert record_key(agent) == server.key
    counted = {record_key(agent): agent.pages}
    counted.setdefault(server.key, server.record.pages)
    assert sum(counted.values()) == 3


# ------------------------------------------------------------------ a real cupsd


def test_real_cups_job_counted_once_on_its_session(
    cups: CupsInstance, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A station printing straight into the server's queue: both sides read that scheduler's log."""
    server = ServerPrintLog(cups.page_log, {"localhost": "pc07"})
    agent = CupsPageLogTailer(cups.page_log, hosts=LOCAL_HOSTS)
    request.addfinalizer(server.close)
    request.addfinalizer(agent.close)
    now = time.time()
    sessions = [
        Sess("before", "pc07", now - 7200, now - 3600),
        Sess("visit", "pc07", now - 60, None),
    ]

    job = cups.lp(tiny_pdf(tmp_path / "cv.pdf", pages=2), title="CV [2026] final", copies=1)
    server_jobs: list[ServerPrintJob] = []
    agent_records: list[PrintRecord] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (server_jobs and agent_records):
        server_jobs += server.poll()
        agent_records += agent.poll()
        time.sleep(0.1)
    assert len(server_jobs) == 1, cups.log_tail()
    assert len(agent_records) == 1

    counted: dict[str, tuple[str | None, int]] = {}  # the store's UNIQUE(job_key)
    for key, station, rec in [(record_key(agent_records[0]), "pc07", agent_records[0])] + [
        (j.key, j.station, j.record) for j in server_jobs
    ]:
        counted.setdefault(key, (match_session(rec.at, station, sessions), rec.pages))
    assert counted == {job_key("VirtualPDF", job, at=agent_records[0].at): ("visit", 2)}


def test_real_station_queue_forwarding_to_the_server_has_its_own_job_id(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two real schedulers: the station's queue forwards over IPP to the server's queue."""
    reason = cups_missing_reason()
    if reason:
        pytest.skip(reason)
    server = private_cups(tmp_path)
    request.addfinalizer(server.stop)
    station = private_cups(tmp_path, extra_backends=["ipp"])
    request.addfinalizer(station.stop)
    queue = f"ipp://127.0.0.1:{server.port}/printers/{server.printer}"
    station.add_printer(server.printer, queue)  # same queue name on both sides
    pdf = tiny_pdf(tmp_path / "doc.pdf", pages=2)
    server.lp(pdf, title="staff job, straight on the server")
    server.wait_jobs_done()
    station.lp(pdf, title="visitor job", copies=2)

    server_log = ServerPrintLog(server.page_log, {"localhost": "pc07"}, scheduler="server")
    agent = CupsPageLogTailer(station.page_log, hosts=LOCAL_HOSTS)
    request.addfinalizer(server_log.close)
    request.addfinalizer(agent.close)
    server_jobs: list[ServerPrintJob] = []
    agent_records: list[PrintRecord] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (len(server_jobs) == 2 and agent_records):
        server_jobs += server_log.poll()
        agent_records += agent.poll()
        time.sleep(0.1)
    assert len(server_jobs) == 2, server.log_tail() + station.log_tail()
    assert len(agent_records) == 1
    seen_by_agent, seen_by_server = agent_records[0], server_jobs[1].record
    assert (seen_by_agent.pages, seen_by_server.pages) == (4, 4)
    assert (seen_by_agent.job, seen_by_server.job) == ("1", "2")  # one document, two job ids
    # by printer and job id alone, the visitor's job would collide with the staff job on the server
    staff_job = server_jobs[0].record
    assert job_key(seen_by_agent.printer, seen_by_agent.job) == job_key(staff_job.printer, staff_job.job)
    assert record_key(seen_by_agent, "pc07") != server_jobs[0].key
    # one side only: the server's printers are counted from the server's log
    counted = [j.key for j in server_jobs] + [
        record_key(r, "pc07")
        for r in agent_records
        if not accounted_by_server(r.printer, {server.printer})
    ]
    assert [k.partition("@")[0] for k in counted] == ["server/virtualpdf#1", "server/virtualpdf#2"]
    assert server_jobs[1].station == "pc07"  # the IPP backend connected from loopback
