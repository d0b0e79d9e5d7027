"""Printer status over IPP (pyipp), reduced to what the floor shows.

States, worst first: ``offline`` (no answer, or the printer says it is
offline/shut down), ``jam``, ``empty``, ``low``, ``ok``.

* ``empty``: media-empty, media-needed, toner-empty, marker-supply-empty
  (nothing prints until someone refills).
* ``jam``: media-jam, door-open, cover-open, interlock-open, input-tray-missing,
  marker-supply-missing, output-area-full - and **any stopped printer** whose
  reasons say nothing more precise. ``jam`` therefore reads "needs a hand at
  the printer": a queue stopped by CUPS (``cupsdisable -r "paper jam"``, a
  backend error, an admin pause) prints nothing for visitors, so a steward
  must look; the ``message`` tells them why.
* ``low``: toner-low, marker-supply-low, media-low, ink-low, developer-low,
  marker-waste-almost-full, or a marker level between 0 and ``low_level`` %.
  Levels never make a printer ``empty`` on their own (some printers report 0
  for a waste tank or an unknown level).

Reason suffixes (``-report``, ``-warning``, ``-error``) are dropped before
matching: CUPS reports backend supply news as ``toner-low-report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from pyipp import IPP
from pyipp.exceptions import IPPError

from espace.clock import Clock

log = logging.getLogger(__name__)

PrinterState = Literal["ok", "low", "empty", "jam", "offline"]
STATES: tuple[PrinterState, ...] = ("ok", "low", "empty", "jam", "offline")  # least to most severe
ALERT_STATES: frozenset[PrinterState] = frozenset({"empty", "jam"})

EMPTY_REASONS = frozenset({"media-empty", "media-needed", "toner-empty", "marker-supply-empty"})
JAM_REASONS = frozenset(
    {
        "media-jam",
        "door-open",
        "cover-open",
        "interlock-open",
        "input-tray-missing",
        "marker-supply-missing",
        "output-area-full",
    }
)
LOW_REASONS = frozenset(
    {
        "toner-low",
        "marker-supply-low",
        "media-low",
        "ink-low",
        "developer-low",
        "marker-waste-almost-full",
    }
)
OFFLINE_REASONS = frozenset({"offline", "shutdown", "timed-out"})
_SUFFIXES = ("-report", "-warning", "-error")

Marker = tuple[str, int, str]  # name, level (0-100, negative: unknown), colour (#RRGGBB)


def base_reason(reason: str) -> str:
    """``toner-low-report`` -> ``toner-low``."""
    for suffix in _SUFFIXES:
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


def as_reasons(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """pyipp gives a str for one reason and a list for several; ``none`` means none."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(r for r in (str(i).strip() for i in items) if r and r != "none")


def classify(
    printer_state: str | None,
    reasons: str | Iterable[str] | None,
    marker_levels: Iterable[int] = (),
    *,
    low_level: int = 10,
) -> PrinterState:
    """The floor state from IPP printer-state, printer-state-reasons and marker levels.

    ``printer_state`` is ``idle``/``processing``/``stopped``, or None when the
    printer did not answer.
    """
    if printer_state is None:
        return "offline"
    found = {base_reason(r) for r in as_reasons(reasons)}
    if found & OFFLINE_REASONS:
        return "offline"
    if found & JAM_REASONS:
        return "jam"
    if found & EMPTY_REASONS:
        return "empty"
    if printer_state == "stopped":
        return "jam"
    if found & LOW_REASONS or any(0 <= level <= low_level for level in marker_levels):
        return "low"
    return "ok"


class _IPP(IPP):
    """pyipp, asking in the natural language ``en`` rather than its ``en-US``.

    RFC 8011 makes ``naturalLanguage`` lower case; CUPS 2.4.2 as Debian 12 ships it since its
    2025 security updates refuses ``en-US`` with client-error-bad-request ("Bad
    attributes-natural-language value"), so every printer would show as offline.
    """

    def _message(self, operation: Any, msg: dict[str, Any]) -> dict[str, Any]:
        message = super()._message(operation, msg)
        message["operation-attributes-tag"]["attributes-natural-language"] = "en"
        return message


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    state: PrinterState
    reasons: tuple[str, ...] = ()
    message: str = ""
    markers: tuple[Marker, ...] = ()
    printer_state: str = ""  # IPP's idle | processing | stopped; "" when unreachable

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reasons": list(self.reasons),
            "message": self.message,
            "markers": [{"name": n, "level": lv, "color": c} for n, lv, c in self.markers],
            "printer_state": self.printer_state,
        }


def needs_steward(old: PrinterStatus | None, new: PrinterStatus) -> bool:
    """True when a paper or jam problem appears (or turns into another one)."""
    return new.state in ALERT_STATES and (old is None or old.state != new.state)


async def poll_printer(
    host: str,
    port: int = 631,
    base_path: str = "/ipp/print",
    tls: bool = False,
    *,
    session: aiohttp.ClientSession | None = None,
    request_timeout: int = 8,
    low_level: int = 10,
) -> PrinterStatus:
    """Ask one printer (or CUPS queue, ``/printers/<name>``) for its status; never raises."""
    ipp = _IPP(
        host=host,
        port=port,
        base_path=base_path,
        tls=tls,
        session=session,
        request_timeout=request_timeout,
    )
    try:
        printer = await ipp.printer()
    except (IPPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return PrinterStatus(state="offline", message=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        if session is None:
            await ipp.close()
    markers = tuple(
        (m.name or m.marker_type or f"marker-{m.marker_id}", int(m.level), m.color or "")
        for m in printer.markers
    )
    state = printer.state
    reasons = as_reasons(state.reasons)
    printer_state = str(state.printer_state)
    return PrinterStatus(
        state=classify(printer_state, reasons, (m[1] for m in markers), low_level=low_level),
        reasons=reasons,
        message=state.message or "",
        markers=markers,
        printer_state=printer_state,
    )


@dataclass(frozen=True, slots=True)
class PrinterConfig:
    id: str
    host: str
    port: int = 631
    base_path: str = "/ipp/print"
    tls: bool = False


OnChange = Callable[[str, PrinterStatus], Awaitable[None]]
PollFn = Callable[[PrinterConfig, aiohttp.ClientSession | None], Awaitable[PrinterStatus]]


async def _poll_config(cfg: PrinterConfig, session: aiohttp.ClientSession | None) -> PrinterStatus:
    return await poll_printer(cfg.host, cfg.port, cfg.base_path, cfg.tls, session=session)


class PrinterPoller:
    """Polls every configured printer each ``interval`` seconds of ``clock``.

    Calls ``on_change(printer_id, status)`` for a printer's first status and
    whenever it differs from the previous one (state, reasons, message or
    marker levels). ``poll`` is the IPP seam (tests pass a fake). Use
    :meth:`cleanup_ctx` in an aiohttp app, or :meth:`start`/:meth:`stop`.
    """

    def __init__(
        self,
        printers: Sequence[PrinterConfig],
        on_change: OnChange,
        *,
        clock: Clock,
        interval: float = 30.0,
        poll: PollFn = _poll_config,
    ) -> None:
        self.printers = list(printers)
        self.on_change = on_change
        self.clock = clock
        self.interval = interval
        self._poll = poll
        self.statuses: dict[str, PrinterStatus] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def poll_once(self) -> None:
        results = await asyncio.gather(
            *(self._poll(cfg, self._session) for cfg in self.printers), return_exceptions=True
        )
        for cfg, result in zip(self.printers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                result = PrinterStatus(state="offline", message=f"poll failed: {result}"[:200])
            if self.statuses.get(cfg.id) == result:
                continue
            self.statuses[cfg.id] = result
            try:
                await self.on_change(cfg.id, result)
            except Exception:
                log.exception("printer %s: on_change failed", cfg.id)

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await self.clock.sleep(self.interval)

    async def start(self) -> None:
        if self._task is None:
            if self._poll is _poll_config and self._session is None:
                self._session = aiohttp.ClientSession()
            self._task = asyncio.create_task(self.run(), name="printer-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def cleanup_ctx(self, _app: object) -> AsyncIterator[None]:
        """``app.cleanup_ctx.append(poller.cleanup_ctx)``."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()
