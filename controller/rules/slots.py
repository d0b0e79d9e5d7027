"""The walk-up grant: may a session start on this station now, and until when?

The rule: ``end = min(now + session length, closing, next booking start)``,
refused when less than ``min_minutes`` would remain: :func:`espace.grant.grant_end`,
the one copy of that arithmetic (the stations and the kiosk use it too). The grant says *why* it
ends then (``cause``: ``length``, ``closing`` or ``booking``, with the
booking's label), so the lock screen can tell the visitor before they start:
"until 14:55 — a workshop starts at 15:00".

API::

    decide_grant(now, station, *, session_minutes, hours, next_booking,
                 reserved_for, locked, busy, min_minutes=5) -> Grant | Refusal
    Grant(start, end, cause, label="")      .minutes, .as_dict()
    Refusal(reason, until=None, label="")   .as_dict()

Refusal reasons, checked in this order: ``locked`` (out of order), ``busy``
(a session runs), ``closed`` (``until`` = next opening), ``reserved`` (held
by a booking or a called ticket: ``reserved_for`` names it; or a booking on
the station has already started), ``no_time`` (under ``min_minutes`` left
before closing or the booking; ``until`` = next opening when cut by closing).

When a cause ties (60 min ends exactly at closing), ``booking`` wins over
``closing`` and ``closing`` over ``length``: the visitor learns the reason
they could not stay longer.

A visitor holding a called ticket is let in by the caller after
``TicketQueue.claim`` succeeds; the caller then asks with ``reserved_for=None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from espace.grant import MIN_SESSION_MINUTES, grant_end
from espace.protocol import GrantCause

from .hours import OpeningHours

RefusalReason = Literal["closed", "reserved", "locked", "busy", "no_time"]


@dataclass(frozen=True, slots=True)
class Grant:
    start: float
    end: float
    cause: GrantCause
    label: str = ""  # the booking the session is cut for, when cause == "booking"

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / 60

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    until: float | None = None  # when the station becomes available, if known
    label: str = ""  # what holds the station, when reserved

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide_grant(
    now: float,
    station: str,
    *,
    session_minutes: float,
    hours: OpeningHours,
    next_booking: tuple[float, str] | None,
    reserved_for: str | None,
    locked: bool,
    busy: bool,
    min_minutes: float = MIN_SESSION_MINUTES,
) -> Grant | Refusal:
    """Grant a session on ``station`` at ``now``, or say why not.

    ``next_booking`` is ``bookings.next_booking_start(station, occs, now)``;
    ``reserved_for`` is the label of what holds the station (a booking within
    its lead time, a called ticket), or ``None``.
    ``station`` is not used by the rule itself; it names the grant's station
    for callers and logs.
    """
    if locked:
        return Refusal("locked")
    if busy:
        return Refusal("busy")
    closing = hours.closing_after(now)
    if closing is None:
        return Refusal("closed", hours.next_opening(now))
    if reserved_for is not None:
        return Refusal("reserved", None, reserved_for)
    if next_booking is not None and next_booking[0] <= now:
        return Refusal("reserved", None, next_booking[1])

    cut = grant_end(now, now + session_minutes * 60, closing=closing, next_booking=next_booking, min_minutes=min_minutes)
    if cut is None:  # under min_minutes left: say until when, when closing is what cut it
        length_end = now + session_minutes * 60
        if next_booking is not None and next_booking[0] <= min(closing, length_end):
            return Refusal("no_time", None, next_booking[1])
        return Refusal("no_time", hours.next_opening(closing) if closing <= length_end else None)
    return Grant(now, cut.end, cut.cause, cut.label)
