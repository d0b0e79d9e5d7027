"""Station problems the probes know of, reported with the station's health on every heartbeat.

A probe that cannot do its job says why in its ``problem`` attribute (None: fine):
the print log (:class:`espace.cupslog.PageLogTailer`: page logging is off in
cupsd.conf) and the idle measure (:class:`agent.probes.reported.ReportedIdle`: the
session screen has no working idle probe). The floor shows them so that a station
that silently counts nothing, or never frees itself, gets looked at.
"""

from __future__ import annotations

from typing import Any

PRINT_LOG_OFF = "print_log_off"
IDLE_SOURCE = "idle_source"


def probe_problems(probes: Any) -> list[str]:
    """``["code: detail", ...]`` for each probe that reports a problem."""
    out = []
    for code, probe in ((PRINT_LOG_OFF, getattr(probes, "prints", None)), (IDLE_SOURCE, getattr(probes, "idle", None))):
        detail = getattr(probe, "problem", None)
        if detail:
            out.append(f"{code}: {detail}"[:240])
    return out
