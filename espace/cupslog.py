"""CUPS ``page_log``: parsed by the ``PageLogFormat`` in force, counted once per job.

Shared by the station (``agent/probes/print_cups.py``, its own CUPS) and the print
server (``controller/printers/server_log.py``, the controller host's CUPS).

What real cupsd runs write (the corpus in ``tests/espace/page_log/``, made by
``tests/support/page_log_corpus.py`` with Debian 12's cupsd 2.4.2):

* one ``total N`` line per job, ``N`` = impressions (pages x copies), in the order
  ``PageLogFormat`` says; cupsd's built-in format is :data:`DEFAULT_FORMAT`. A
  *bare* ``PageLogFormat`` (what Debian ships) turns page logging **off**.
* a quoted ``PageLogFormat "..."`` is kept with its quotes: every line then starts
  and ends with ``"``. Parsing by the format read from cupsd.conf handles both.
* ``[02/Dec/2026:05:17:36.183038 +0000]`` with ``LogTimeFormat usecs``; a negative
  half-hour zone is written ``-03-30`` (cupsd prints hours and minutes of the offset
  separately, each with its sign).
* a retried job (``ErrorPolicy retry-job``) or a restarted one (``lp -i N -H restart``)
  gets another ``total`` line at each attempt, **cumulative**: 4 then 8 for a
  2-page, 2-copy job that failed once. The job's figure is its last total, so each
  later line adds only what it grew by (:class:`JobCounter`).
* a client over IPv6 is written ``[v1.fd00::1]`` (:func:`normalize_host`).
* CUPS 1.x, and backends that send ``PAGE:`` lines, give per-page lines
  (``page copies`` where ``total N`` stands); a ``total`` line for the same job
  supersedes them (counted once).

Free-text fields (billing, job name, user) may hold spaces; the host field never
does. A line is matched against the format with the host taken, by preference, from
the hosts the reader expects, then anything that looks like a host name or address.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Literal

log = logging.getLogger(__name__)

DEFAULT_FORMAT = "%p %u %j %T %P %C %{job-billing} %{job-originating-host-name} %{job-name} %{media} %{sides}"
DEFAULT_CUPSD_CONF = "/etc/cups/cupsd.conf"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_DATE = re.compile(r"^(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? ([+-])(\d{2})(-?)(\d{2})$")
# directive -> (group name, pattern); attributes not listed here are free text
_FIELDS = {
    "p": ("printer", r"\S+"),
    "u": ("user", r".+?"),
    "j": ("job", r"\d+"),
    "T": ("date", r"\[[^\]]+\]"),
    "P": ("page", r"total|\d+"),
    "C": ("count", r"\d+"),
    "{job-billing}": ("billing", "BILLING"),
    "{job-originating-host-name}": ("host", "HOST"),
    "{job-name}": ("title", r".*?"),
    "{media}": ("media", r"\S+"),
    "{sides}": ("sides", r"\S+"),
    "{job-impressions-completed}": ("impressions", r"\d+|-"),
}
_HOSTLIKE = r"localhost(?:\.localdomain)?|\[v1\.[^\]\s]+\]|\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?"


@dataclass(frozen=True, slots=True)
class PrintRecord:
    """One print job as the print system saw it. ``user``/``title`` never leave the station."""

    job: str  # the print system's job id
    printer: str
    pages: int  # pages x copies
    at: float  # UTC epoch seconds
    colour_pages: int = 0
    host: str = ""
    user: str = ""
    title: str = ""


def parse_cups_date(text: str) -> float | None:
    """``22/Nov/2026:03:59:12 +0000`` (or ``.123456``, or ``-03-30``) to UTC epoch seconds."""
    m = _DATE.match(text.strip().strip("[]"))
    if not m or m.group(2).title() not in _MONTHS:
        return None
    day, mon, year, hh, mm, ss, frac, sign, oh, dash, om = m.groups()
    sign_n = 1 if sign == "+" else -1
    minutes = sign_n * int(oh) * 60 + (-int(om) if dash else sign_n * int(om))
    try:
        dt = datetime(int(year), _MONTHS[mon.title()], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(timedelta(minutes=minutes)))
    except ValueError:
        return None
    return dt.timestamp() + (int(frac.ljust(6, "0")) / 1e6 if frac else 0.0)


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no brackets; cupsd's ``[v1.ADDR+zone]``; IPv4-mapped IPv6 as IPv4."""
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
        if h.startswith("v1."):  # httpAddrString's URI form of an IPv6 address
            h = h[3:].replace("+", "%")
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return h
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def read_page_log_format(cupsd_conf: str | os.PathLike[str] = DEFAULT_CUPSD_CONF) -> str:
    """The ``PageLogFormat`` cupsd uses with this cupsd.conf: "" means page logging is off.

    The last ``PageLogFormat`` line wins, its value as written (cupsd keeps quotes); no
    such line means :data:`DEFAULT_FORMAT`. Raises ``OSError`` when the file cannot be read.
    """
    fmt = DEFAULT_FORMAT
    for raw in Path(cupsd_conf).read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        name, _, value = line.partition(" ")
        if name.lower() == "pagelogformat" or line.lower() == "pagelogformat":
            fmt = value.strip() if name.lower() == "pagelogformat" else ""
    return fmt


@dataclass(frozen=True, slots=True)
class PageLogLine:
    """One parsed ``page_log`` line."""

    kind: Literal["total", "page"]  # a job's total, or one page (CUPS 1.x, PAGE: from a backend)
    printer: str
    user: str
    job_id: int
    at: float  # UTC epoch seconds
    count: int  # total impressions (total) or copies of this page (page)
    page: int = 0
    billing: str = ""
    host: str = ""
    title: str = ""
    media: str = ""
    sides: str = ""

    def record(self, pages: int | None = None) -> PrintRecord:
        return PrintRecord(
            job=str(self.job_id), printer=self.printer, pages=self.count if pages is None else pages, at=self.at,
            host=self.host, user=self.user, title=self.title,
        )  # fmt: skip


def _field(value: str | None) -> str:
    return "" if value in (None, "-") else str(value)


class PageLogFormat:
    """A compiled ``PageLogFormat``: :meth:`parse` turns one line into a :class:`PageLogLine`."""

    def __init__(self, fmt: str = DEFAULT_FORMAT, hosts: Collection[str] = ()) -> None:
        self.format = fmt
        if not fmt:
            raise ValueError("PageLogFormat is empty: CUPS logs no pages")
        # tried in turn: a host the reader expects (billing may then hold spaces); the common
        # case (billing without spaces); anything that looks like a host; then lines that stop
        # early (older CUPS) with any host
        hinted = "|".join(re.escape(h) for h in sorted(hosts, key=len, reverse=True))
        self._patterns = [self._compile(fmt, f"(?i:{hinted})", r".*?")] if hinted else []
        self._patterns += [
            self._compile(fmt, r"\S+", r"\S+"),
            self._compile(fmt, _HOSTLIKE, r".*?"),
            self._compile(fmt, r"\S+", r".*?", truncated=True),
        ]

    @staticmethod
    def _compile(fmt: str, host_pattern: str, billing_pattern: str, truncated: bool = False) -> re.Pattern[str]:
        out: list[str] = []
        optional = 0  # after the count, each field may be missing (older CUPS stopped early)
        seen: set[str] = set()
        for lit, directive in re.findall(r"([^%]*)(%%|%\{[^}]*\}|%.|$)", fmt):
            if not lit and not directive:
                continue
            text = re.escape(lit) if lit else ""
            if directive == "%%":
                out.append(text + "%")
                continue
            if not directive:
                out.append(text)
                continue
            name, pattern = _FIELDS.get(directive[1:], ("", r".*?"))
            pattern = host_pattern if pattern == "HOST" else billing_pattern if name == "billing" else pattern
            group = f"(?P<{name}>{pattern})" if name and name not in seen else f"(?:{pattern})"
            seen.add(name)
            if truncated and "count" in seen and name != "count" and lit.strip() == "":
                out.append(f"(?:{text}{group}")
                optional += 1
            else:
                out.append(text + group)
        return re.compile("^" + "".join(out) + ")?" * optional + "$")

    def parse(self, line: str) -> PageLogLine | None:
        text = line.rstrip("\r\n")
        for pattern in self._patterns:
            m = pattern.match(text)
            if m:
                return self._line(m.groupdict())
        return None

    @staticmethod
    def _line(g: dict[str, str | None]) -> PageLogLine | None:
        at = parse_cups_date(g.get("date") or "")
        job = g.get("job")
        if at is None or job is None:
            return None
        page, count = g.get("page"), g.get("count")
        if page is None and (g.get("impressions") or "-") != "-":
            page, count = "total", g["impressions"]
        if page is None or count is None:
            return None
        kind: Literal["total", "page"] = "total" if page == "total" else "page"
        return PageLogLine(
            kind=kind, printer=_field(g.get("printer")), user=_field(g.get("user")), job_id=int(job), at=at,
            count=int(count), page=0 if kind == "total" else int(page), billing=_field(g.get("billing")),
            host=_field(g.get("host")), title=_field(g.get("title")), media=_field(g.get("media")), sides=_field(g.get("sides")),
        )  # fmt: skip


_DEFAULT = PageLogFormat()


def parse_page_log_line(line: str, fmt: PageLogFormat = _DEFAULT) -> PageLogLine | None:
    """Parse one line (a ``total`` or a per-page line); None for anything else."""
    return fmt.parse(line)


class JobCounter:
    """Turns parsed lines into :class:`PrintRecord` s, each page counted once.

    A job's figure is its last ``total`` line: the first gives a record of that many
    pages, a later one for the same job (retried, restarted) a record of what it grew
    by, none if it did not grow. Per-page lines add up (copies of each page) until a
    line of another job or :meth:`flush`; a ``total`` after them counts only what
    they did not. A job id seen again with another name or host, or a total below the
    one counted, is a new job (a wiped spool). The last ``remember`` jobs are kept.
    """

    def __init__(self, remember: int = 2000) -> None:
        self._counted: OrderedDict[tuple[str, int], tuple[int, str, str]] = OrderedDict()
        self._remember = remember
        self._pending: PageLogLine | None = None
        self._pages = 0

    def _key(self, line: PageLogLine) -> tuple[str, int]:
        return (line.printer.casefold(), line.job_id)

    def _already(self, line: PageLogLine) -> int:
        seen = self._counted.get(self._key(line))
        if seen is None or (seen[1], seen[2]) != (line.title, line.host):
            return 0
        return seen[0]

    def _set(self, line: PageLogLine, counted: int) -> None:
        key = self._key(line)
        self._counted[key] = (counted, line.title, line.host)
        self._counted.move_to_end(key)
        while len(self._counted) > self._remember:
            self._counted.popitem(last=False)

    def feed(self, line: PageLogLine) -> list[PrintRecord]:
        p = self._pending
        out: list[PrintRecord] = []
        if p is not None and (line.kind == "total" or self._key(p) != self._key(line)):
            out += self.flush()
        if line.kind == "page":
            if self._pending is None:
                self._pending, self._pages = line, 0
            self._pages += line.count
            return out
        before = self._already(line)
        if line.count < before:  # lower than counted: not the same job (ids restart with a wiped spool)
            before = 0
        if line.count > before:
            out.append(line.record(line.count - before))
        self._set(line, max(before, line.count))
        return out

    def flush(self) -> list[PrintRecord]:
        p, self._pending = self._pending, None
        if p is None:
            return []
        before = self._already(p)
        self._set(p, before + self._pages)
        return [p.record(self._pages)] if self._pages > 0 else []


def parse_page_log(text: str, fmt: PageLogFormat = _DEFAULT) -> list[PrintRecord]:
    """All jobs in a page_log text (tests, one-off imports)."""
    counter = JobCounter()
    out: list[PrintRecord] = []
    for raw in text.splitlines():
        parsed = fmt.parse(raw)
        if parsed is not None:
            out += counter.feed(parsed)
    return out + counter.flush()


class PageLogTailer:
    """New jobs from a ``page_log``, read like ``tail -F``; blocking (run it in an executor).

    Keeps the file open and remembers its offset; consumes complete lines only.
    Rotation: when the path names another file (new inode), the old one is read to its
    end first (a last unterminated line there counts as final), then the new file from 0.
    Truncation in place (copytruncate) restarts from 0. A missing or unreadable file
    yields no records, never an exception.

    ``hosts``: keep only jobs whose originating host is in it (a station: :data:`LOCAL_HOSTS`);
    None keeps all. ``expect_hosts``: hosts to prefer when a free-text field makes the
    line ambiguous (default ``hosts``). ``start_at_end``: skip what the file holds when
    first opened (history before the agent was installed), but remember its jobs' totals,
    so that a job restarted later counts only its new pages. ``cupsd_conf``: read the
    ``PageLogFormat`` in force there (again whenever the file changes); None: the default.
    :attr:`problem` says why nothing can be counted (page logging off).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        hosts: Collection[str] | None = None,
        expect_hosts: Collection[str] | None = None,
        start_at_end: bool = False,
        cupsd_conf: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.hosts = None if hosts is None else frozenset(normalize_host(h) for h in hosts)
        self._expect = frozenset(expect_hosts if expect_hosts is not None else (hosts or ()))
        self.cupsd_conf = None if cupsd_conf is None else Path(cupsd_conf)
        self._conf_stamp: tuple[float, int] | None = None
        self.format = PageLogFormat(DEFAULT_FORMAT, self._expect)
        self.problem: str | None = None
        self._fh: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self.offset = 0
        self._counter = JobCounter()
        self._read_format()
        if start_at_end:  # "the end" is now, not the first poll: a job printed in between counts
            try:
                st = os.stat(self.path)
                with open(self.path, "rb") as fh:
                    history = fh.read(st.st_size)
            except OSError:
                pass  # no log yet: everything in it will be new
            else:
                self._inode, self.offset = (st.st_dev, st.st_ino), len(history)
                self._lines(history)  # remember the totals, count nothing
                self._counter.flush()

    def expect(self, hosts: Collection[str]) -> None:
        """Prefer these hosts when parsing (the print server's station hosts change)."""
        hosts = frozenset(hosts)
        if hosts != self._expect:
            self._expect = hosts
            self.format = PageLogFormat(self.format.format, hosts)

    def _read_format(self) -> None:
        if self.cupsd_conf is None:
            return
        try:
            st = os.stat(self.cupsd_conf)
            stamp = (st.st_mtime, st.st_size)
            if stamp == self._conf_stamp:
                return
            fmt = read_page_log_format(self.cupsd_conf)
        except OSError as exc:
            self.problem, self._conf_stamp = None, None
            log.debug("cannot read %s (%s): assuming CUPS's default PageLogFormat", self.cupsd_conf, exc)
            return
        self._conf_stamp = stamp
        if not fmt:
            self.problem = f"PageLogFormat is empty in {self.cupsd_conf}: CUPS logs no pages, nothing printed is counted"
            log.warning("%s", self.problem)
            return
        self.problem = None
        if fmt != self.format.format:
            self.format = PageLogFormat(fmt, self._expect)

    def close(self) -> None:
        """Release the file handle (the next poll reopens the log from the remembered offset)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()

    def __enter__(self) -> PageLogTailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def poll(self) -> list[PrintRecord]:
        self._read_format()
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
                self._fh = fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls, like tail -F
                fst = os.fstat(fh.fileno())
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
        records += self._counter.flush()
        if self.hosts is not None:
            records = [r for r in records if normalize_host(r.host) in self.hosts]
        return records

    def _read(self, *, final: bool) -> list[PrintRecord]:
        fh = self._fh
        assert fh is not None
        try:
            fh.seek(self.offset)
            data = fh.read()
        except OSError as exc:
            log.debug("cannot read %s: %s", self.path, exc)
            return []
        end = len(data) if final else data.rfind(b"\n") + 1
        self.offset += end
        return self._lines(data[:end])

    def _lines(self, data: bytes) -> list[PrintRecord]:
        out: list[PrintRecord] = []
        for raw in data.splitlines():
            parsed = self.format.parse(raw.decode("utf-8", errors="replace"))
            if parsed is not None:
                out += self._counter.feed(parsed)
            elif raw.strip():
                log.debug("page_log line not understood: %r", raw[:200])
        return out
