"""PrintService/Operational event 307 parsing, and the wevtutil bookmark."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from agent.probes.base import PrintRecord
from agent.probes.print_windows import (
    CHANNEL,
    WindowsPrintEvents,
    parse_events_xml,
    parse_system_time,
)


def event_307(
    record_id: int, job: str = "12", pages: str = "4", doc: str = "CV [final] - Word"
) -> str:
    # shape of a real event as `wevtutil qe ... /f:xml` prints it
    return f"""<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Microsoft-Windows-PrintService' Guid='{{747EF6FD-E535-4D16-B510-42C90F6873A1}}'/>\
<EventID>307</EventID><Version>0</Version><Level>4</Level><Task>26</Task><Opcode>11</Opcode>\
<Keywords>0x4000000000000840</Keywords><TimeCreated SystemTime='2026-11-19T10:15:42.1234567Z'/>\
<EventRecordID>{record_id}</EventRecordID><Correlation/><Execution ProcessID='2412' ThreadID='5120'/>\
<Channel>Microsoft-Windows-PrintService/Operational</Channel><Computer>PC-07.espace.lan</Computer>\
<Security UserID='S-1-5-21-1-2-3-1001'/></System><UserData>\
<DocumentPrinted xmlns='http://manifests.microsoft.com/win/2005/08/windows/printing/spooler/core/events'>\
<Param1>{job}</Param1><Param2>{doc}</Param2><Param3>visiteur</Param3><Param4>\\\\PC-07</Param4>\
<Param5>HP LaserJet Hall</Param5><Param6>IP_10.0.0.5</Param6><Param7>183402</Param7><Param8>{pages}</Param8>\
</DocumentPrinted></UserData></Event>"""


EVENT_OTHER = """<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<EventID>842</EventID><TimeCreated SystemTime='2026-11-19T10:15:43.0Z'/><EventRecordID>99</EventRecordID>\
</System><UserData/></Event>"""

EVENT_DATA_STYLE = """<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>307</EventID>
<TimeCreated SystemTime="2026-11-19T11:15:42+01:00"/><EventRecordID>7</EventRecordID></System>
<EventData><Data Name="Param1">3</Data><Data Name="Param2">a b</Data><Data Name="Param3">u</Data>
<Data Name="Param4">PC-09</Data><Data Name="Param5">Colour</Data><Data Name="Param6">USB001</Data>
<Data Name="Param7">10</Data><Data Name="Param8">1</Data></EventData></Event>"""

AT = datetime(2026, 11, 19, 10, 15, 42, tzinfo=UTC).timestamp()


def test_event_307_becomes_a_print_record() -> None:
    (ev,) = parse_events_xml(event_307(1234))
    assert ev.record_id == 1234
    assert ev.port == "IP_10.0.0.5"
    assert ev.size_bytes == 183402
    assert ev.record == PrintRecord(
        job="12",
        printer="HP LaserJet Hall",
        pages=4,
        at=pytest.approx(AT + 0.1234567),  # type: ignore[arg-type]
        colour_pages=0,
        host="PC-07",
        user="visiteur",
        title="CV [final] - Word",
    )


def test_several_events_other_ids_and_event_data_style() -> None:
    text = event_307(10) + "\r\n" + EVENT_OTHER + "\r\n" + event_307(11, job="13", pages="1")
    assert [(e.record_id, e.record.job, e.record.pages) for e in parse_events_xml(text)] == [
        (10, "12", 4),
        (11, "13", 1),
    ]
    (ev,) = parse_events_xml(EVENT_DATA_STYLE)
    assert (ev.record.job, ev.record.printer, ev.record.host, ev.record.at) == (
        "3",
        "Colour",
        "PC-09",
        AT,
    )


@pytest.mark.parametrize(
    "text",
    ["", "   ", "<Event><broken", event_307(5, pages="many"), event_307(5, job="")],
)
def test_unusable_input_gives_nothing(text: str) -> None:
    assert parse_events_xml(text) == []


def test_system_time() -> None:
    assert parse_system_time("2026-11-19T10:15:42Z") == AT
    assert parse_system_time("2026-11-19T10:15:42.5000000Z") == AT + 0.5
    assert parse_system_time("yesterday") is None


class FakeWevtutil:
    """The OS seam: answers `wevtutil qe` from a list of record ids."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.calls: list[list[str]] = []
        self.fail = False

    def __call__(self, args: Sequence[str]) -> str:
        self.calls.append(list(args))
        if self.fail:
            raise subprocess.CalledProcessError(5, list(args))
        assert args[:3] == ["wevtutil", "qe", CHANNEL]
        query = args[3]
        ids = sorted(self.ids)
        if "/rd:true" in args:
            ids = ids[::-1]
        if "EventRecordID>" in query:
            after = int(query.split("EventRecordID>")[1].split("]")[0])
            ids = [i for i in ids if i > after]
        count = next((int(a[3:]) for a in args if a.startswith("/c:")), len(ids))
        return "".join(event_307(i, job=str(i)) for i in ids[:count])


def test_source_starts_at_the_newest_event_then_follows() -> None:
    fake = FakeWevtutil([1, 2, 3])
    src = WindowsPrintEvents(runner=fake)
    assert src.poll() == []  # history is not this visitor's
    assert src.bookmark == 3
    fake.ids += [4, 5]
    assert [r.job for r in src.poll()] == ["4", "5"]
    assert src.bookmark == 5
    assert src.poll() == []
    assert "EventRecordID>5" in fake.calls[-1][3]


def test_source_resumes_from_a_saved_bookmark_in_batches() -> None:
    fake = FakeWevtutil(list(range(1, 8)))
    src = WindowsPrintEvents(runner=fake, bookmark=2, max_events=3)
    assert [r.job for r in src.poll()] == ["3", "4", "5"]
    assert [r.job for r in src.poll()] == ["6", "7"]


def test_source_survives_wevtutil_failure() -> None:
    fake = FakeWevtutil([1])
    src = WindowsPrintEvents(runner=fake, bookmark=0)
    fake.fail = True
    assert src.poll() == []
    assert src.bookmark == 0
    fake.fail = False
    assert [r.job for r in src.poll()] == ["1"]


@pytest.mark.skipif(sys.platform == "win32", reason="off Windows only")
def test_source_is_inert_off_windows() -> None:
    assert WindowsPrintEvents().poll() == []
