"""Printers: status over IPP, and print accounting from the server's CUPS log."""

from controller.printers.ipp import (
    ALERT_STATES,
    PrinterConfig,
    PrinterPoller,
    PrinterState,
    PrinterStatus,
    as_reasons,
    classify,
    needs_steward,
    poll_printer,
)
from controller.printers.server_log import (
    HostMap,
    ServerPrintJob,
    ServerPrintLog,
    accounted_by_server,
    job_key,
    match_session,
    normalize_host,
    record_key,
)

__all__ = [
    "ALERT_STATES",
    "HostMap",
    "PrinterConfig",
    "PrinterPoller",
    "PrinterState",
    "PrinterStatus",
    "ServerPrintJob",
    "ServerPrintLog",
    "accounted_by_server",
    "as_reasons",
    "classify",
    "job_key",
    "match_session",
    "needs_steward",
    "normalize_host",
    "poll_printer",
    "record_key",
]
