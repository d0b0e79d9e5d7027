"""Print capture on Linux: CUPS ``page_log``.

CUPS writes one line per job (2.x, default ``PageLogFormat``)::

    printer user job-id [date] total N billing host job-name media sides
    VirtualPDF root 2 [22/Nov/2026:03:59:12 +0000] total 4 - localhost twopage A4 two-sided-long-edge

where ``N`` is the number of impressions (pages x copies), written when the job
completes. CUPS 1.x wrote one line per page instead (``page-number num-copies``
in place of ``total N``); those are summed into one job, flushed when another
job's line appears and at the end of each :meth:`CupsPageLogTailer.poll`
(a 1.x job still printing during a poll is therefore split in two records
with the same job id: CUPS 1.x is long gone from supported distributions).
Older 1.x lines stop after ``billing`` or ``host``; they parse too.

The job name may hold spaces and brackets, so a line is parsed from both ends:
the fixed fields up to the host from the left, media and sides from the right,
and the job name is what lies between. ``-`` stands for an empty field.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Literal

from agent.probes.base import PrintRecord

log = logging.getLogger(__name__)

_HEAD = re.compile(
    r"^(?P<printer>\S+) (?P<user>.+?) (?P<job>\d+) \[(?P<date>[^\]]+)\] (?P<a>\S+) (?P<b>\S+)(?: (?P<rest>.*))?$"
)
_DATE = re.compile(
    r"^(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$"
)
_MONTHS = {
    m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})


def parse_cups_date(text: str) -> float | None:
    """``22/Nov/2026:03:59:12 +0000`` to UTC epoch seconds (English month names, any locale)."""
    m = _DATE.match(text.strip())
    if not m or m.group(2).title() not in _MONTHS:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    try:
        dt = datetime(
            int(year),
            _MONTHS[mon.title()],
            int(day),
            int(hh),
            int(mm),
            int(ss),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    return dt.timestamp()


def _field(value: str) -> str:
    return "" if value == "-" else value


@dataclass(frozen=True, slots=True)
class PageLogLine:
    """One parsed ``page_log`` line."""

    kind: Literal["total", "page"]  # 2.x job line, or 1.x page line
    printer: str
    user: str
    job_id: int
    at: float  # UTC epoch seconds
    count: int  # total impressions (total) or copies of this page (page)
    page: int = 0  # page number (1.x lines only)
    billing: str = ""
    host: str = ""
    title: str = ""
    media: str = ""
    sides: str = ""

    def record(self) -> PrintRecord:
        return PrintRecord(
            job=str(self.job_id), printer=self.printer, pages=self.count, at=self.at,
            host=self.host, user=self.user, title=self.title,
        )  # fmt: skip


def parse_page_log_line(line: str) -> PageLogLine | None:
    """Parse one line (2.x ``total`` or 1.x per-page); None for anything else."""
    m = _HEAD.match(line.rstrip("\r\n"))
    if not m:
        return None
    at = parse_cups_date(m.group("date"))
    if at is None:
        return None
    a, b = m.group("a"), m.group("b")
    if not b.isdigit():
        return None
    if a == "total":
        kind: Literal["total", "page"] = "total"
        page = 0
    elif a.isdigit():
        kind, page = "page", int(a)
    else:
        return None
    billing = host = title = media = sides = ""
    rest = m.group("rest")
    if rest is not None:
        billing, _, rest = rest.partition(" ")
        host, _, rest = rest.partition(" ")
        if rest:
            parts = rest.rsplit(" ", 2)
            if len(parts) == 3:
                title, media, sides = parts
            else:  # a log without media/sides: all of it is the name
                title = rest
    return PageLogLine(
        kind=kind, printer=m.group("printer"), user=_field(m.group("user")), job_id=int(m.group("job")),
        at=at, count=int(b), page=page, billing=_field(billing), host=_field(host), title=_field(title),
        media=_field(media), sides=_field(sides),
    )  # fmt: skip


class PageLogAggregator:
    """Turns parsed lines into one :class:`PrintRecord` per job.

    A 2.x ``total`` line is a whole job. 1.x page lines add up (copies of each
    page) until a line of another job arrives or :meth:`flush` is called; the
    record's ``at`` is the job's first page line.
    """

    def __init__(self) -> None:
        self._pending: PageLogLine | None = None
        self._pages = 0

    def feed(self, line: PageLogLine) -> list[PrintRecord]:
        out: list[PrintRecord] = []
        if line.kind == "total":
            out += self.flush()
            out.append(line.record())
            return out
        p = self._pending
        if p is not None and (p.printer, p.job_id) != (line.printer, line.job_id):
            out += self.flush()
        if self._pending is None:
            self._pending, self._pages = line, 0
        self._pages += line.count
        return out

    def flush(self) -> list[PrintRecord]:
        p, self._pending = self._pending, None
        if p is None:
            return []
        return [
            PrintRecord(
                job=str(p.job_id), printer=p.printer, pages=self._pages, at=p.at,
                host=p.host, user=p.user, title=p.title,
            )
        ]  # fmt: skip


def parse_page_log(text: str) -> list[PrintRecord]:
    """All jobs in a page_log text (tests, one-off imports)."""
    agg = PageLogAggregator()
    out: list[PrintRecord] = []
    for raw in text.splitlines():
        parsed = parse_page_log_line(raw)
        if parsed is not None:
            out += agg.feed(parsed)
    return out + agg.flush()


class CupsPageLogTailer:
    """A :class:`~agent.probes.base.PrintSource` reading new jobs from a CUPS ``page_log``.

    Keeps the file open and remembers its offset; consumes complete lines only.
    Rotation: when the path names another file (new inode), the old one is read
    to its end first (a last unterminated line there counts as final), then the
    new file from 0. Truncation in place (copytruncate, size below the offset)
    restarts from 0. A missing or unreadable file yields no records, never an
    exception. ``hosts``: keep only jobs whose originating host is in it (on a
    station, :data:`LOCAL_HOSTS`); None keeps all. ``start_at_end``: skip what
    the file holds when first opened (history before the agent was installed).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        hosts: Collection[str] | None = None,
        start_at_end: bool = False,
    ) -> None:
        self.path = Path(path)
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)
        self._start_at_end = start_at_end
        self._fh: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self.offset = 0
        self._agg = PageLogAggregator()
        if start_at_end:  # "the end" is now, not the first poll: a job printed in between counts
            try:
                st = os.stat(self.path)
            except OSError:
                pass  # no log yet: everything in it will be new
            else:
                self._inode, self.offset = (st.st_dev, st.st_ino), st.st_size

    def close(self) -> None:
        """Release the file handle (the next poll reopens the log from the remembered offset)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> CupsPageLogTailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def poll(self) -> list[PrintRecord]:
        records: list[PrintRecord] = []
        try:
            st: os.stat_result | None = os.stat(self.path)
        except OSError:
            st = None
        if self._fh is not None:
            rotated = st is None or (st.st_dev, st.st_ino) != self._inode
            records += self._read(final=rotated)
            if rotated:
                self.close()
            elif st is not None and st.st_size < self.offset:
                log.info("%s was truncated; reading it again from the start", self.path)
                self.offset = 0
                records += self._read(final=False)
        if self._fh is None and st is not None:
            try:
                self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls, like tail -F
                fst = os.fstat(self._fh.fileno())
            except OSError as exc:
                log.debug("cannot open %s: %s", self.path, exc)
                self.close()
            else:
                ident = (fst.st_dev, fst.st_ino)
                if self._inode is None:
                    self.offset = 0  # the log appeared after we started: all of it is new
                elif ident != self._inode or fst.st_size < self.offset:
                    self.offset = 0  # another file, or this one truncated while closed
                self._inode = ident
                records += self._read(final=False)
        records += self._agg.flush()
        if self.hosts is not None:
            records = [r for r in records if r.host.lower() in self.hosts]
        return records

    def _read(self, *, final: bool) -> list[PrintRecord]:
        assert self._fh is not None
        try:
            self._fh.seek(self.offset)
            data = self._fh.read()
        except OSError as exc:
            log.debug("cannot read %s: %s", self.path, exc)
            return []
        end = len(data) if final else data.rfind(b"\n") + 1
        self.offset += end
        out: list[PrintRecord] = []
        for raw in data[:end].splitlines():
            parsed = parse_page_log_line(raw.decode("utf-8", errors="replace"))
            if parsed is not None:
                out += self._agg.feed(parsed)
            elif raw.strip():
                log.debug("page_log line not understood: %r", raw[:200])
        return out
