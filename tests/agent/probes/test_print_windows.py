"""Windows print accounting from PrintService/Operational events 805 and 307.

The recorded events in ``print_windows_events/`` are written as ``EvtRender`` and ``wevtutil
qe /f:xml`` give them: the Event schema namespace, single-quoted attributes, no white space
between elements, CRLF between events. 307's ``UserData/DocumentPrinted/Param1..Param8`` and
805's ``UserData/RenderJobDiag`` fields (JobId, GdiJobSize, ICMMethod, Color, XRes, YRes,
Quality, Copies, TTOption) follow the PrintService provider's manifest and the structures
MS-RPRN documents for these two events. The Dutch file carries the ``RenderingInfo`` that
``/f:RenderedXml`` adds in the station's language; the control-character file holds a raw
form feed and U+0001 in a document's name, as the spooler writes them.

The event log API is the OS seam: :class:`FakeEventLog` answers the XPath queries the source
asks, from a list of recorded events.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.core import Agent, Probes
from agent.outbox import Outbox
from agent.probes.base import PrintRecord
from agent.probes.print_windows import (
    CHANNEL,
    BadEvent,
    DocumentPrinted,
    RenderJob,
    WindowsPrintEvents,
    parse_event_xml,
    parse_system_time,
    split_events,
)

EVENTS = Path(__file__).parent / "print_windows_events"


def recorded(name: str) -> list[str]:
    return split_events((EVENTS / name).read_text(encoding="utf-8"))


def record_id(xml: str) -> int:
    return int(re.search(r"<EventRecordID>(\d+)</EventRecordID>", xml).group(1))  # type: ignore[union-attr]


class FakeEventLog:
    """``EvtQuery`` + ``EvtNext`` + ``EvtRender`` over recorded events, honouring the XPath's record id."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.queries: list[str] = []
        self.fail = False

    def __call__(self, xpath: str, count: int, newest_first: bool) -> list[str]:
        self.queries.append(xpath)
        if self.fail:
            raise OSError(1717, "EvtQuery: The interface is unknown")  # RPC_S_UNKNOWN_IF: the log service down
        assert xpath.startswith("*[System[(EventID=307 or EventID=805)")
        after = re.search(r"EventRecordID>(\d+)", xpath)
        chosen = sorted(self.events, key=record_id, reverse=newest_first)
        if after:
            chosen = [e for e in chosen if record_id(e) > int(after.group(1))]
        return chosen[:count]


def source_at(tmp_path: Path, log: FakeEventLog, bookmark: int | None = 0, **kw: int) -> WindowsPrintEvents:
    state = tmp_path / "print_windows.json"
    if bookmark is not None and not state.exists():
        state.write_text(json.dumps({"bookmark": bookmark}), encoding="utf-8")
    return WindowsPrintEvents(state_file=state, reader=log, **kw)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_french_letter_in_three_copies_counts_pages_times_copies(tmp_path: Path) -> None:
    src = source_at(tmp_path, FakeEventLog(recorded("fr-BE-copies.xml")))
    first, second = src.poll()
    assert first == PrintRecord(
        job="12", printer="Imprimante de l'accueil (étage 1)", pages=2 * 3,
        at=pytest.approx(at("2026-11-19T09:41:12.0887421")),  # type: ignore[arg-type]
        colour_pages=0, host="PC-07", user="visiteur", title="Lettre de motivation – été 2026.docx",
    )  # fmt: skip
    assert (second.job, second.pages, second.colour_pages) == ("13", 1, 0)  # Color=2 is a setting, not ink
    assert src.bookmark == 2219
    assert src.poll() == []


def test_a_dutch_station_with_rendered_messages(tmp_path: Path) -> None:
    (job,) = source_at(tmp_path, FakeEventLog(recorded("nl-BE-rendered.xml"))).poll()
    assert (job.job, job.printer, job.pages, job.user, job.host) == ("41", "Printer balie (kleur)", 8, "bezoeker", "PC-12")


def test_a_raw_control_character_in_a_document_name_still_counts(tmp_path: Path) -> None:
    texts = recorded("fr-BE-control-character.xml")
    assert "\x0c" in texts[1] and "\x01" in texts[1]  # noqa: PT018 - the file holds them raw
    (job,) = source_at(tmp_path, FakeEventLog(texts)).poll()
    assert (job.job, job.pages) == ("7", 3 * 2)
    assert job.title == "Offre?d'emploi? - Copie.pdf"


def test_an_unreadable_event_is_skipped_and_logged_while_the_others_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = recorded("fr-BE-copies.xml")
    broken = good[1].replace("2213", "2215").split("<UserData>")[0] + "<UserData><DocumentPrinted><Param1>14"  # cut short
    log = FakeEventLog([good[0], good[1], broken, good[2], good[3]])
    src = source_at(tmp_path, log)
    with caplog.at_level(logging.WARNING):
        jobs = src.poll()
    assert [(j.job, j.pages) for j in jobs] == [("12", 6), ("13", 1)]
    assert "PrintService event 2215 skipped, unreadable" in caplog.text
    assert src.bookmark == 2219
    log.events.append(broken.replace("2215", "2230"))  # the newest one unreadable: the bookmark still passes it
    assert src.poll() == []
    assert src.bookmark == 2230
    assert src.poll() == []
    assert log.queries[-2].endswith("EventRecordID>2230]]")  # then the newest-record check of an empty poll


def test_a_job_is_never_counted_twice_across_restarts(tmp_path: Path) -> None:
    events = recorded("fr-BE-copies.xml")
    log = FakeEventLog(events[:1])  # the 805 of job 12 is logged, the service stops before its 307
    assert source_at(tmp_path, log).poll() == []
    log.events = events  # the service starts again: the 307 comes, the copies were kept
    src = source_at(tmp_path, log, max_events=2)
    assert [(j.job, j.pages) for j in src.poll()] == [("12", 6)]
    again = source_at(tmp_path, log, max_events=2)  # and again, mid-way through the log
    assert [(j.job, j.pages) for j in again.poll()] == [("13", 1)]
    assert source_at(tmp_path, log).poll() == []
    saved = json.loads((tmp_path / "print_windows.json").read_text(encoding="utf-8"))
    assert saved["bookmark"] == 2219
    assert len(saved["seen"]) == 2


def test_the_first_start_skips_history_and_a_cleared_log_is_read_again(tmp_path: Path) -> None:
    log = FakeEventLog(recorded("fr-BE-copies.xml"))
    src = source_at(tmp_path, log, bookmark=None)
    assert src.poll() == []  # before this agent, not this visitor's
    assert src.bookmark == 2219
    log.events = recorded("nl-BE-rendered.xml")  # `wevtutil cl`: record ids start again from 1
    assert src.poll() == []
    assert src.bookmark == 0
    assert [j.job for j in src.poll()] == ["41"]


def test_a_failing_event_log_keeps_the_bookmark(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = FakeEventLog(recorded("fr-BE-copies.xml"))
    src = source_at(tmp_path, log)
    log.fail = True
    with caplog.at_level(logging.WARNING):
        assert src.poll() == []
    assert "PrintService log unreadable" in caplog.text
    assert src.bookmark == 0
    log.fail = False
    assert len(src.poll()) == 2


def test_a_corrupt_state_file_starts_from_the_newest_event(tmp_path: Path) -> None:
    (tmp_path / "print_windows.json").write_text("{not json", encoding="utf-8")
    src = source_at(tmp_path, FakeEventLog(recorded("fr-BE-copies.xml")))
    assert src.poll() == []
    assert src.bookmark == 2219


def test_event_shapes() -> None:
    render, printed = (parse_event_xml(t) for t in recorded("fr-BE-copies.xml")[:2])
    assert render == RenderJob(2210, "12", 3, pytest.approx(at("2026-11-19T09:41:07.5312264")), colour=False)  # type: ignore[arg-type]
    assert isinstance(printed, DocumentPrinted)
    assert (printed.record.pages, printed.port, printed.size_bytes) == (2, "IP_10.20.0.41", 389120)
    data_style = """<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>307</EventID>
<TimeCreated SystemTime="2026-11-19T11:15:42+01:00"/><EventRecordID>7</EventRecordID></System>
<EventData><Data Name="Param1">3</Data><Data Name="Param2">a b</Data><Data Name="Param3">u</Data>
<Data Name="Param4">PC-09</Data><Data Name="Param5">Colour</Data><Data Name="Param6">USB001</Data>
<Data Name="Param7">10</Data><Data Name="Param8">1</Data></EventData></Event>"""
    ev = parse_event_xml(data_style)
    assert isinstance(ev, DocumentPrinted)
    assert (ev.record.job, ev.record.printer, ev.record.at) == ("3", "Colour", at("2026-11-19T10:15:42"))
    other = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>842</EventID><TimeCreated SystemTime='2026-11-19T10:15:43.0Z'/><EventRecordID>99</EventRecordID></System></Event>"
    assert parse_event_xml(other) is None
    with pytest.raises(BadEvent) as bad:
        parse_event_xml("<Event><System><EventRecordID>5</EventRecordID><broken")
    assert bad.value.record_id == 5


def test_system_time() -> None:
    assert parse_system_time("2026-11-19T10:15:42Z") == at("2026-11-19T10:15:42")
    assert parse_system_time("2026-11-19T10:15:42.5000000Z") == at("2026-11-19T10:15:42") + 0.5
    assert parse_system_time("yesterday") is None


@pytest.mark.skipif(sys.platform == "win32", reason="off Windows only")
def test_source_is_inert_off_windows() -> None:
    assert WindowsPrintEvents().poll() == []
    assert CHANNEL == "Microsoft-Windows-PrintService/Operational"


async def test_the_agent_reports_windows_jobs_as_windows_with_their_copies(tmp_path: Path) -> None:
    from controller.app import create_app
    from controller.settings import make_settings
    from espace.clock import ScaledClock, parse_instant
    from tests.support.procs import wait_for
    from tests.support.served import serve

    clock = ScaledClock(parse_instant("2026-11-19T11:00"), 1.0)  # after the recorded jobs (10:41, 10:52): not in the future
    controller = await serve(create_app(make_settings(database=str(tmp_path / "c.db")), clock))
    token = await controller.add_station("PC-07")
    log = FakeEventLog([])
    prints = source_at(tmp_path, log)
    agent = Agent("PC-07", token, controller.ws_url, Outbox(tmp_path / "outbox.db"), clock=clock,
                  probes=Probes(prints=prints), print_poll_s=0.05)  # fmt: skip

    def jobs() -> list[tuple[int, str]]:
        with sqlite3.connect(tmp_path / "c.db") as db:
            return db.execute("SELECT pages, source FROM print_jobs WHERE station = 'PC-07' ORDER BY at").fetchall()

    try:
        await agent.start()
        await wait_for(agent.connected.is_set, what="connection")
        log.events = recorded("fr-BE-copies.xml")
        await wait_for(lambda: len(jobs()) == 2, what="both Windows jobs committed")
        assert jobs() == [(6, "windows"), (1, "windows")]
    finally:
        await agent.stop()
        await controller.close()
