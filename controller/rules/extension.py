"""Extending a running session.

One 30-minute extension by default (``max_extensions``, ``extension_minutes``),
and only when nobody waits in the queue and no booking on the station starts
within the extension, and the space is still open at its end. The extension is
refused outright, never shortened: a visitor asks for 30 more minutes, and gets
them or a reason.

A steward's ``override=True`` bypasses the **queue** and the **limit** rules,
never **closing** nor a **booking**: no session runs past closing or over a
booking, whoever asks. :attr:`Extension.bypassed` names the rules an override
actually bypassed; the caller writes every override to the audit trail (the
events table, with the steward as actor).

API::

    decide_extension(now, session_end, *, extensions_done, max_extensions=1,
                     extension_minutes=30, queue_waiting, next_booking_start,
                     closing, override=False) -> Extension | ExtensionRefused
    Extension(end, bypassed=())
    ExtensionRefused(reason)   # "ended" | "closing" | "booking" | "limit" | "queue"

Reasons are checked in that order, so a steward sees first the reasons an
override cannot lift. ``ended`` (the session is already over at ``now``) is an
addition to the issue's list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

RefusedBecause = Literal["ended", "closing", "booking", "limit", "queue"]


@dataclass(frozen=True, slots=True)
class Extension:
    end: float
    bypassed: tuple[str, ...] = ()  # "limit" and/or "queue", when a steward override was needed

    @property
    def overridden(self) -> bool:
        return bool(self.bypassed)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ExtensionRefused:
    reason: RefusedBecause

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide_extension(
    now: float,
    session_end: float,
    *,
    extensions_done: int,
    max_extensions: int = 1,
    extension_minutes: float = 30,
    queue_waiting: int,
    next_booking_start: float | None,
    closing: float | None,
    override: bool = False,
) -> Extension | ExtensionRefused:
    """Extend a session ending at ``session_end`` by ``extension_minutes``, or say why not.

    ``next_booking_start``: ``bookings.next_booking_start(station, occs, now)[0]``
    or ``None``. ``closing``: ``OpeningHours.closing_after(now)``; ``None``
    means the space is closed now, and nothing is extended.
    """
    if now >= session_end:
        return ExtensionRefused("ended")
    new_end = session_end + extension_minutes * 60
    if closing is None or new_end > closing:
        return ExtensionRefused("closing")
    if next_booking_start is not None and next_booking_start < new_end:
        return ExtensionRefused("booking")
    bypassed: list[str] = []
    if extensions_done >= max_extensions:
        if not override:
            return ExtensionRefused("limit")
        bypassed.append("limit")
    if queue_waiting > 0:
        if not override:
            return ExtensionRefused("queue")
        bypassed.append("queue")
    return Extension(new_end, tuple(bypassed))
