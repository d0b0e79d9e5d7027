"""The grant and extension arithmetic, once, for the controller, the station and the kiosk.

A session granted at ``now`` ends at the earliest of its full length, closing
and the next booking on the station. When two of them fall at the same
instant, ``booking`` wins over ``closing`` and ``closing`` over ``length``:
the visitor learns the reason they could not stay longer. Less than
``min_minutes`` left (5 by default, the site's ``min_session_minutes``): no
session. The controller's walk-up rule (``controller/rules/slots.py``), its
booking sessions and a steward's "open" (``controller/sessions.py``,
``controller/web/actions.py``), the station alone (``agent/core.py``, through
:func:`local_grant`) and the kiosk page (``dashboard/static/grant.js``, a port)
all call this. ``espace/grant_vectors.json`` holds the cases, edges first; the
Python tests and the JavaScript test both run every one of them.

An extension adds ``extension_minutes`` to a running session, or is refused
(never shortened): ``ended``, ``closing``, ``booking`` (no session runs past
closing or into a booking, whoever asks), then ``limit`` and ``queue``, which a
steward's override lifts (:attr:`Extension.bypassed` names what it lifted).

API::

    grant_end(now, length_end, *, closing=None, next_booking=None, min_minutes=5) -> Cut | None
    local_grant(rules, now) -> Cut | None          # from a station's cached espace.protocol.Rules
    decide_extension(now, session_end, *, extensions_done, max_extensions=1, extension_minutes=30,
                     queue_waiting, next_booking_start, closing, override=False) -> Extension | ExtensionRefused
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from espace import protocol as p

MIN_SESSION_MINUTES = 5  # as the site setting min_session_minutes' default
DEFAULT_SESSION_MINUTES = 60  # a station that never heard from its controller

RefusedBecause = Literal["ended", "closing", "booking", "limit", "queue"]


@dataclass(frozen=True, slots=True)
class Cut:
    """When a session granted now ends, and why."""

    end: float
    cause: p.GrantCause
    label: str = ""  # the booking's label, when cause == "booking"


def grant_end(
    now: float,
    length_end: float,
    *,
    closing: float | None = None,
    next_booking: tuple[float, str] | None = None,
    min_minutes: float = MIN_SESSION_MINUTES,
) -> Cut | None:
    """The session that starts at ``now`` and would last until ``length_end``, cut to closing and the next booking.

    ``closing``: the end of the open period containing ``now`` (None: not
    known, no cut). ``next_booking``: (start, label) of the next booking on the
    station, if any, starting after ``now``. None when less than
    ``min_minutes`` would remain.
    """
    end, cause, label = length_end, "length", ""
    if closing is not None and closing <= end:
        end, cause = closing, "closing"
    if next_booking is not None and next_booking[0] <= end:
        end, cause, label = next_booking[0], "booking", next_booking[1]
    if end <= now or end - now < min_minutes * 60:
        return None
    return Cut(end, cause, label)  # type: ignore[arg-type]


def local_grant(rules: p.Rules | None, now: float) -> Cut | None:
    """The grant a station gives itself while its controller is unreachable, from its cached rules.

    None: the cached hours say the space is closed now, a booking holds the
    station now, or too little time is left. With no rules yet (never
    connected), a full default session. Beyond the cached hours
    (``slots_until``) nothing is known: no closing cut.
    """
    if rules is None:
        return Cut(now + DEFAULT_SESSION_MINUTES * 60, "length")
    slot = next((sl for sl in rules.open_slots if sl.start <= now < sl.end), None)
    if slot is None and now < rules.slots_until:
        return None
    if any(b.start <= now < b.end for b in rules.bookings):
        return None
    ahead = sorted((b for b in rules.bookings if b.start > now), key=lambda b: b.start)
    nxt = (ahead[0].start, ahead[0].label) if ahead else None
    return grant_end(
        now, now + rules.session_minutes * 60, closing=None if slot is None else slot.end,
        next_booking=nxt, min_minutes=rules.min_session_minutes,
    )  # fmt: skip


# ---------------------------------------------------------------- extensions


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

    ``next_booking_start``: the next booking on the station after ``now``, or
    None. ``closing``: the end of the open period containing ``now``; None
    means the space is closed now, and nothing is extended. Reasons are checked
    in the order ended, closing, booking, limit, queue: a steward sees first
    the reasons an override cannot lift.
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
