"""Print capture on Windows: PrintService/Operational events 805 ("rendering job") and 307 ("printed").

The channel is off by default. Enable it once per station (as administrator; the Windows
installer does it)::

    wevtutil sl Microsoft-Windows-PrintService/Operational /e:true

Each printed document then logs, in this order, event 805 (``UserData/RenderJobDiag``: JobId,
GdiJobSize, ICMMethod, Color, XRes, YRes, Quality, **Copies**, TTOption) when the spooler
renders it, and event 307 (``UserData/DocumentPrinted``) when it is printed::

    Param1 job id        Param5 printer
    Param2 document name Param6 port
    Param3 user          Param7 size in bytes
    Param4 client host   Param8 pages of the document

Param8 counts the document's pages once; when the copies are made by the driver or the
printer, they are only in event 805's ``Copies``. A job counts ``Param8 x Copies``, joined by
job id to the latest 805 before it (a job with no 805, as some drivers log none, counts one
copy; an application that makes its copies itself sends them as pages, with ``Copies`` 1).
``Color`` is the job's setting, not what the printer did (it reads "colour" on monochrome
printers too), so ``colour_pages`` stays 0. Some tools render the parameters as
``EventData/Data Name="Param1"``: both shapes are read.

One unreadable event never stops the accounting: each event is parsed alone; control
characters that the spooler writes raw into the XML (from a document's name) are replaced
before a second try, so that such a job still counts (a name is the visitor's to choose);
an event that still cannot be read is logged and skipped, and the bookmark moves past it.

:class:`WindowsPrintEvents` reads events newer than its bookmark (the last EventRecordID
seen) through the Windows event log API (``EvtQuery``/``EvtRender``, pywin32), which hands
over text as Windows holds it whatever the console's code page. Its bookmark, the pending
805 copies and the keys of the last jobs counted live in a state file: a service restart
neither counts a job twice nor loses one, and a cleared log (record ids start again from
1) is noticed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.probes.base import PrintRecord

log = logging.getLogger(__name__)

CHANNEL = "Microsoft-Windows-PrintService/Operational"
EVENT_DOCUMENT_PRINTED = 307
EVENT_RENDER_JOB = 805
EVENTS_XPATH = f"*[System[(EventID={EVENT_DOCUMENT_PRINTED} or EventID={EVENT_RENDER_JOB})"
RENDER_MAX_AGE_S = 3600.0  # an 805 older than this before its 307 belongs to another job
SEEN_KEEP = 500
_XML_DECL = re.compile(r"<\?xml[^>]*\?>")
_EVENT_START = re.compile(r"(?=<Event[\s>])")
_RECORD_ID = re.compile(r"<EventRecordID>\s*(\d+)\s*</EventRecordID>")
_ILLEGAL_RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHAR_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$"
)

# (XPath query, at most this many, newest first?) -> the events' XML, one string each
Reader = Callable[[str, int, bool], list[str]]


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
    """One event 307, with its record id for the bookmark; ``record.pages`` is Param8 (one copy)."""

    record_id: int
    record: PrintRecord
    port: str = ""
    size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One event 805: the copies of a job about to print."""

    record_id: int
    job: str
    copies: int
    at: float
    colour: bool = False


class BadEvent(ValueError):
    """An event whose XML cannot be read; ``record_id`` when it could still be found."""

    def __init__(self, reason: str, record_id: int | None) -> None:
        super().__init__(reason)
        self.record_id = record_id


def _fields(event: ET.Element, names: Callable[[str], bool]) -> dict[str, str]:
    out: dict[str, str] = {}
    for el in event.iter():
        name = _local(el.tag)
        if name == "Data" and names(el.get("Name") or ""):
            out[el.get("Name", "")] = (el.text or "").strip()
        elif names(name) and len(el) == 0:
            out[name] = (el.text or "").strip()
    return out


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def parse_event(event: ET.Element) -> DocumentPrinted | RenderJob | None:
    """One ``<Event>`` element; None unless it is a well-formed event 307 or 805."""
    system = next((el for el in event if _local(el.tag) == "System"), None)
    if system is None:
        return None
    sys_fields = {_local(el.tag): el for el in system}
    event_id = _int(sys_fields["EventID"].text) if "EventID" in sys_fields else None
    record_id = _int(sys_fields["EventRecordID"].text) if "EventRecordID" in sys_fields else None
    created = sys_fields.get("TimeCreated")
    at = parse_system_time(created.get("SystemTime", "")) if created is not None else None
    if record_id is None or at is None:
        return None
    if event_id == EVENT_RENDER_JOB:
        r = _fields(event, lambda n: n in ("JobId", "Copies", "Color"))
        copies = _int(r.get("Copies"))
        if not r.get("JobId") or copies is None:
            return None
        return RenderJob(record_id, r["JobId"], max(1, copies), at, colour=r.get("Color") == "2")
    if event_id != EVENT_DOCUMENT_PRINTED:
        return None
    p = _fields(event, lambda n: n.startswith("Param") and n[5:].isdigit())
    pages = _int(p.get("Param8"))
    if pages is None or not p.get("Param1") or not p.get("Param5"):
        return None
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
        record_id=record_id, record=record, port=p.get("Param6", ""),
        size_bytes=_int(p.get("Param7")) or 0,
    )  # fmt: skip


def _legal_ref(m: re.Match[str]) -> str:
    code = int(m.group(1)[1:], 16) if m.group(1)[0] == "x" else int(m.group(1))
    legal = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    return m.group(0) if legal else "?"


def parse_event_xml(text: str) -> DocumentPrinted | RenderJob | None:
    """One event's XML (as ``EvtRender`` gives it); raises :class:`BadEvent` if it cannot be read."""
    body = _XML_DECL.sub("", text.lstrip("\ufeff")).strip()
    try:
        return parse_event(ET.fromstring(body))
    except ET.ParseError as first:
        cleaned = _CHAR_REF.sub(_legal_ref, _ILLEGAL_RAW.sub("?", body))
        m = _RECORD_ID.search(body)
        record_id = int(m.group(1)) if m else None
        try:
            parsed = parse_event(ET.fromstring(cleaned))
        except ET.ParseError as exc:
            raise BadEvent(str(exc), record_id) from None
        if cleaned != body:
            log.info("PrintService event %s: control characters replaced (%s)", record_id, first)
        return parsed


def split_events(text: str) -> list[str]:
    """``wevtutil qe /f:xml`` output (events back to back, no root) into one string per event."""
    body = _XML_DECL.sub("", text.lstrip("\ufeff"))
    return [chunk.strip() for chunk in _EVENT_START.split(body) if chunk.strip()]


def _evt_reader(xpath: str, count: int, newest_first: bool) -> list[str]:
    """The real reader: the Windows event log API through pywin32."""
    if sys.platform != "win32":
        raise RuntimeError("the Windows event log needs Windows")
    import win32evtlog

    direction = win32evtlog.EvtQueryReverseDirection if newest_first else win32evtlog.EvtQueryForwardDirection
    query = win32evtlog.EvtQuery(CHANNEL, win32evtlog.EvtQueryChannelPath | direction, xpath)
    out: list[str] = []
    while len(out) < count:
        batch = win32evtlog.EvtNext(query, min(50, count - len(out)))
        if not batch:
            break
        out += [str(win32evtlog.EvtRender(e, win32evtlog.EvtRenderEventXml)) for e in batch]
    return out


class WindowsPrintEvents:
    """A :class:`~agent.probes.base.PrintSource` over events 805 and 307.

    With no saved state, the first poll only finds the newest record id and returns nothing:
    history before the agent's first start is not the current visitor's. Off Windows, with
    no ``reader`` injected, it yields nothing. A failing read yields nothing and keeps the
    bookmark, so the next poll tries again.
    """

    source = "windows"

    def __init__(
        self, *, state_file: str | Path | None = None, reader: Reader | None = None, max_events: int = 200
    ) -> None:
        self.state_file = Path(state_file) if state_file is not None else None
        self.max_events = max_events
        self._reader = reader if reader is not None else (_evt_reader if sys.platform == "win32" else None)
        self.bookmark: int | None = None
        self.renders: dict[str, RenderJob] = {}
        self.seen: list[str] = []
        self._load()

    # -- state ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.bookmark = int(data["bookmark"])
            self.renders = {job: RenderJob(**r) for job, r in data.get("renders", {}).items()}
            self.seen = [str(k) for k in data.get("seen", [])][-SEEN_KEEP:]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("print state %s unreadable (%s): starting from the newest event", self.state_file, exc)
            self.bookmark, self.renders, self.seen = None, {}, []

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {
            "bookmark": self.bookmark,
            "renders": {job: {"record_id": r.record_id, "job": r.job, "copies": r.copies, "at": r.at, "colour": r.colour}
                        for job, r in self.renders.items()},
            "seen": self.seen[-SEEN_KEEP:],
        }  # fmt: skip
        tmp = self.state_file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("print state %s not saved: %s", self.state_file, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- reading --------------------------------------------------------------------------------

    def _read(self, xpath: str, count: int, newest_first: bool = False) -> list[str] | None:
        assert self._reader is not None
        try:
            return self._reader(xpath, count, newest_first)
        except Exception as exc:  # noqa: BLE001 - pywintypes.error is no OSError; the next poll tries again
            log.warning("PrintService log unreadable: %s", exc)
            return None

    def _newest_record(self) -> int | None:
        texts = self._read(EVENTS_XPATH + "]]", 1, True)
        if texts is None:
            return None
        for text in texts:
            m = _RECORD_ID.search(text)
            if m:
                return int(m.group(1))
        return 0

    def poll(self) -> list[PrintRecord]:
        if self._reader is None:
            return []
        if self.bookmark is None:
            newest = self._newest_record()
            if newest is not None:
                self.bookmark = newest
                self._save()
            return []
        texts = self._read(f"{EVENTS_XPATH} and EventRecordID>{self.bookmark}]]", self.max_events)
        if texts is None:
            return []
        if not texts:
            newest = self._newest_record()
            if newest is not None and newest < self.bookmark:
                log.warning("PrintService log cleared (newest record %s < bookmark %s): reading it from the start",
                            newest, self.bookmark)  # fmt: skip
                self.bookmark = 0
                self._save()
            return []
        out = self._take(texts)
        self._save()
        return out

    def _take(self, texts: list[str]) -> list[PrintRecord]:
        assert self.bookmark is not None
        out: list[PrintRecord] = []
        parsed: list[DocumentPrinted | RenderJob] = []
        for text in texts:
            try:
                event = parse_event_xml(text)
            except BadEvent as exc:
                log.warning("PrintService event %s skipped, unreadable: %s", exc.record_id, exc)
                if exc.record_id is not None:
                    self.bookmark = max(self.bookmark, exc.record_id)
                continue
            if event is not None:
                parsed.append(event)
            else:
                m = _RECORD_ID.search(text)
                if m:
                    self.bookmark = max(self.bookmark, int(m.group(1)))
        for event in sorted(parsed, key=lambda e: e.record_id):
            self.bookmark = max(self.bookmark, event.record_id)
            if isinstance(event, RenderJob):
                self.renders[event.job] = event
                continue
            record = self._counted(event)
            if record is not None:
                out.append(record)
        newest = max((e.at if isinstance(e, RenderJob) else e.record.at for e in parsed), default=None)
        if newest is not None:  # an 805 whose 307 never came (a cancelled job) is not kept for ever
            self.renders = {j: r for j, r in self.renders.items() if newest - r.at <= RENDER_MAX_AGE_S}
        return out

    def _counted(self, event: DocumentPrinted) -> PrintRecord | None:
        rec = event.record
        key = f"{rec.job}@{rec.at:.3f}@{rec.printer}"
        if key in self.seen:
            log.info("PrintService job %s already counted", rec.job)
            return None
        self.seen.append(key)
        render = self.renders.pop(rec.job, None)
        copies = 1
        if render is not None and render.record_id < event.record_id and 0 <= rec.at - render.at <= RENDER_MAX_AGE_S:
            copies = render.copies
        return PrintRecord(
            job=rec.job, printer=rec.printer, pages=rec.pages * copies, at=rec.at, colour_pages=0,
            host=rec.host, user=rec.user, title=rec.title,
        )  # fmt: skip
