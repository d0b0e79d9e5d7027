"""Print capture on Linux: the station's own CUPS ``page_log``.

The parsing and counting live in :mod:`espace.cupslog` (the print server reads its
log with the same code). On a station, only jobs sent from the station itself count
(:data:`LOCAL_HOSTS`), and the format is the one the station's ``cupsd.conf`` sets:
Debian ships a bare ``PageLogFormat`` (logging off), which the tailer reports as a
station problem until the install step enables it (``deploy/station/README.md``).
"""

from __future__ import annotations

from espace.cupslog import (
    DEFAULT_FORMAT,
    LOCAL_HOSTS,
    JobCounter,
    PageLogFormat,
    PageLogLine,
    PageLogTailer,
    parse_cups_date,
    parse_page_log,
    parse_page_log_line,
    read_page_log_format,
)


class CupsPageLogTailer(PageLogTailer):
    """The station's :class:`~agent.probes.base.PrintSource`: :class:`PageLogTailer` of its own CUPS."""

PageLogAggregator = JobCounter

__all__ = [
    "DEFAULT_FORMAT",
    "LOCAL_HOSTS",
    "CupsPageLogTailer",
    "JobCounter",
    "PageLogAggregator",
    "PageLogFormat",
    "PageLogLine",
    "PageLogTailer",
    "parse_cups_date",
    "parse_page_log",
    "parse_page_log_line",
    "read_page_log_format",
]
