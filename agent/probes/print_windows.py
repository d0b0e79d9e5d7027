"""Print capture on Windows: PrintService/Operational event 307 ("document printed").

The channel is off by default. Enable it once per station (as administrator;
the Windows installer does it)::

    wevtutil sl Microsoft-Windows-PrintService/Operational /e:true

and optionally give it room (``/ms:16777216``). Each printed document then logs
event 307 whose parameters are, in order::

    Param1 job id        Param5 printer
    Param2 document name Param6 port
    Param3 user          Param7 size in bytes
    Param4 client host   Param8 pages printed

Real events carry them as ``UserData/DocumentPrinted/Param1..8``; some tools
render them as ``EventData/Data Name="Param1"``: both are read. ``pages`` is
Param8 (pages x copies as the spooler counted them); colour is not logged
there, so ``colour_pages`` stays 0. :class:`WindowsPrintEvents` asks
``wevtutil qe`` for events newer than its bookmark (the last EventRecordID).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.probes.base import PrintRecord

log = logging.getLogger(__name__)

CHANNEL = "Microsoft-Windows-PrintService/Operational"
EVENT_DOCUMENT_PRINTED = 307
_XML_DECL = re.compile(r"<\?xml[^>]*\?>")
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$"
)

# runs a command, returns its stdout; raises on failure
Runner = Callable[[Sequence[str]], str]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_system_time(text: str) -> float | None:
    """``2026-11-19T10:15:42.1234567Z`` (7 fractional digits) to UTC epoch seconds."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    ts = dt.timestamp() + (float(f"0.{frac}") if frac else 0.0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        ts -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return ts


@dataclass(frozen=True, slots=True)
class DocumentPrinted:
    """One event 307, with its record id for the bookmark."""

    record_id: int
    record: PrintRecord
    port: str = ""
    size_bytes: int = 0


def _params(event: ET.Element) -> dict[str, str]:
    params: dict[str, str] = {}
    for el in event.iter():
        name = _local(el.tag)
        if name.startswith("Param") and name[5:].isdigit():
            params[name] = (el.text or "").strip()
        elif name == "Data" and (el.get("Name") or "").startswith("Param"):
            params[el.get("Name", "")] = (el.text or "").strip()
    return params


def parse_event(event: ET.Element) -> DocumentPrinted | None:
    """One ``<Event>`` element; None unless it is a well-formed event 307."""
    system = next((el for el in event if _local(el.tag) == "System"), None)
    if system is None:
        return None
    fields = {_local(el.tag): el for el in system}
    try:
        event_id = int((fields["EventID"].text or "").strip())
        record_id = int((fields["EventRecordID"].text or "").strip())
    except (KeyError, ValueError):
        return None
    if event_id != EVENT_DOCUMENT_PRINTED:
        return None
    created = fields.get("TimeCreated")
    at = parse_system_time(created.get("SystemTime", "")) if created is not None else None
    p = _params(event)
    try:
        pages = int(p.get("Param8", ""))
    except ValueError:
        return None
    if at is None or not p.get("Param1") or not p.get("Param5"):
        return None
    try:
        size = int(p.get("Param7", "0") or 0)
    except ValueError:
        size = 0
    record = PrintRecord(
        job=p["Param1"],
        printer=p["Param5"],
        pages=max(0, pages),
        at=at,
        colour_pages=0,
        host=p.get("Param4", "").lstrip("\\"),
        user=p.get("Param3", ""),
        title=p.get("Param2", ""),
    )
    return DocumentPrinted(
        record_id=record_id, record=record, port=p.get("Param6", ""), size_bytes=size
    )


def parse_events_xml(text: str) -> list[DocumentPrinted]:
    """``wevtutil qe /f:xml`` output (events back to back, no root) to events 307, in order."""
    body = _XML_DECL.sub("", text.lstrip("\ufeff")).strip()
    if not body:
        return []
    try:
        root = ET.fromstring(f"<Events>{body}</Events>")
    except ET.ParseError as exc:
        log.warning("unreadable PrintService events: %s", exc)
        return []
    out = []
    for event in root:
        if _local(event.tag) == "Event" and (parsed := parse_event(event)) is not None:
            out.append(parsed)
    return out


def _run_wevtutil(args: Sequence[str]) -> str:
    done = subprocess.run(
        list(args), capture_output=True, timeout=30, check=True,
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )  # fmt: skip
    return done.stdout.decode("utf-8", errors="replace")


class WindowsPrintEvents:
    """A :class:`~agent.probes.base.PrintSource` over event 307.

    ``bookmark``: the last EventRecordID handed out (persist it to survive an
    agent restart). With no bookmark, the first poll only finds the newest
    record id and returns nothing: history before the agent started is not
    the current visitor's. On other platforms (and with no ``runner``
    injected) it yields nothing. A failing wevtutil yields nothing; the
    bookmark stays, so the next poll tries again.
    """

    def __init__(
        self, *, bookmark: int | None = None, runner: Runner | None = None, max_events: int = 200
    ) -> None:
        self.bookmark = bookmark
        self.max_events = max_events
        self._runner = (
            runner if runner is not None else (_run_wevtutil if sys.platform == "win32" else None)
        )

    def _query(self, xpath: str, *extra: str) -> list[DocumentPrinted]:
        assert self._runner is not None
        args = ["wevtutil", "qe", CHANNEL, f"/q:{xpath}", "/f:xml", *extra]
        try:
            return parse_events_xml(self._runner(args))
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("wevtutil failed: %s", exc)
            raise

    def poll(self) -> list[PrintRecord]:
        if self._runner is None:
            return []
        try:
            if self.bookmark is None:
                newest = self._query(
                    f"*[System[(EventID={EVENT_DOCUMENT_PRINTED})]]", "/c:1", "/rd:true"
                )
                self.bookmark = newest[0].record_id if newest else 0
                return []
            events = self._query(
                f"*[System[(EventID={EVENT_DOCUMENT_PRINTED}) and EventRecordID>{self.bookmark}]]",
                f"/c:{self.max_events}",
            )
        except (OSError, subprocess.SubprocessError):
            return []
        events = sorted(
            (e for e in events if e.record_id > self.bookmark), key=lambda e: e.record_id
        )
        if events:
            self.bookmark = events[-1].record_id
        return [e.record for e in events]
