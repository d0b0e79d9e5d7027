"""The print-server side of accounting: the controller host's CUPS ``page_log``.

Each job there is attributed to a station by its originating host (the
``job-originating-host-name`` CUPS logs), through a site mapping
``{hostname or IP: station id}``; matched to the session running on that
station at that instant (:func:`match_session`); and keyed by :func:`job_key`.

**The deduplication key** is the printer (queue) name and the print system's
job id: ``job_key("HP_Hall", 42) == "hp_hall#42"`` (CUPS queue names are
case-insensitive). The agent's ``PrintRecord(printer, job)`` and a server
``page_log`` line give the same key only when both come from the *same
scheduler* (a station printing straight into the server's queue as a plain
CUPS client, with no queue of its own). Tried on two real cupsds: a station
queue forwarding over IPP to the server logs its **own** job id (station
``VirtualPDF #1``, server ``VirtualPDF #2`` for the same document), so the
keys differ, and the station's key can even equal the key of an unrelated
job on the server. And every station's CUPS numbers its jobs from 1: two
stations printing to same-named direct queues produce equal keys. Hence:

* pass ``scheduler`` (the station id for agent records, a fixed name such as
  ``"server"`` for this log) so that keys of different schedulers never collide:
  ``job_key("HP_Hall", 42, "pc07") == "pc07/hp_hall#42"``;
* count each printer from one side only: jobs on printers the server logs
  (:func:`accounted_by_server`) come from the server, attributed by host;
  the agent's records for those printers are dropped.
* CUPS job ids restart when a spool is wiped (a re-imaged station, a reset
  print server): the key ends with the job's instant in whole seconds,
  ``job_key("HP_Hall", 42, "pc07", at=1763550000.4) == "pc07/hp_hall#42@1763550000"``.
  The same job read twice (a log read again after a restart, an event replayed)
  keeps its logged instant and its key; a reused id on a later job does not.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from espace.cupslog import DEFAULT_CUPSD_CONF, PageLogTailer, PrintRecord, normalize_host


def job_key(printer: str, job_id: str | int, scheduler: str = "", at: float | None = None) -> str:
    """``[scheduler/]printer#job[@second]``, case-folded: one job of one print scheduler, at one time."""
    key = f"{printer.strip().casefold()}#{str(job_id).strip()}"
    if at is not None:
        key = f"{key}@{int(at)}"
    return f"{scheduler.strip().casefold()}/{key}" if scheduler else key


def record_key(record: PrintRecord, scheduler: str = "") -> str:
    return job_key(record.printer, record.job, scheduler, at=record.at)


def accounted_by_server(printer: str, server_printers: Collection[str]) -> bool:
    """True when ``printer`` is one of the server's queues: count its jobs from the server's log."""
    name = printer.strip().casefold()
    return any(name == p.strip().casefold() for p in server_printers)


class HostMap:
    """``{hostname or IP: station id}``; a fully qualified name also matches its short name."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._map = {normalize_host(k): v for k, v in mapping.items()}

    def hosts(self) -> frozenset[str]:
        """The host names and addresses mapped (to prefer them when a log line is ambiguous)."""
        return frozenset(self._map)

    def station_for(self, host: str) -> str | None:
        h = normalize_host(host)
        if not h:
            return None
        if h in self._map:
            return self._map[h]
        short = h.split(".", 1)[0]
        if short != h and not _is_ip(h):
            return self._map.get(short)
        return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class SessionSpan(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def station(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float | None: ...  # None while running


def _get(session: SessionSpan | Mapping[str, object], name: str) -> object:
    return session[name] if isinstance(session, Mapping) else getattr(session, name)


def match_session(
    at: float,
    station: str | None,
    sessions: Iterable[SessionSpan | Mapping[str, object]],
    *,
    grace: float = 0.0,
) -> str | None:
    """The id of the session running on ``station`` at instant ``at`` (``start <= at < end``).

    ``sessions`` are objects or rows (mappings) with ``id, station, start, end``
    (``end`` None while running). With ``grace`` > 0, a job logged shortly after
    its session ended (the printer finishing late) still belongs to it when no
    session covers the instant.
    """
    if station is None:
        return None
    best: tuple[float, str] | None = None
    for s in sessions:
        if _get(s, "station") != station:
            continue
        start = float(_get(s, "start"))  # type: ignore[arg-type]
        raw_end = _get(s, "end")
        end = float("inf") if raw_end is None else float(raw_end)  # type: ignore[arg-type]
        if start <= at < end:
            return str(_get(s, "id"))
        if grace > 0 and end <= at < end + grace and (best is None or end > best[0]):
            best = (end, str(_get(s, "id")))
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class ServerPrintJob:
    key: str
    station: str | None  # None: a host no station maps to (staff PCs, the server itself)
    record: PrintRecord


class ServerPrintLog:
    """Tails the server's ``page_log`` and attributes each job to a station. Blocking: run in an executor."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        hosts: Mapping[str, str],
        *,
        scheduler: str = "",
        start_at_end: bool = False,
        cupsd_conf: str | os.PathLike[str] | None = DEFAULT_CUPSD_CONF,
    ) -> None:
        self.hosts = HostMap(hosts)
        self.scheduler = scheduler
        # the format the server's cupsd writes (read from its cupsd.conf; unreadable: CUPS's default)
        self.tailer = PageLogTailer(path, start_at_end=start_at_end, cupsd_conf=cupsd_conf)

    @property
    def problem(self) -> str | None:
        """Why the server's log counts nothing (page logging off), or None."""
        return self.tailer.problem

    def poll(self) -> list[ServerPrintJob]:
        self.tailer.expect(self.hosts.hosts())
        return [
            ServerPrintJob(
                key=record_key(r, self.scheduler), station=self.hosts.station_for(r.host), record=r
            )
            for r in self.tailer.poll()
        ]

    def close(self) -> None:
        self.tailer.close()
