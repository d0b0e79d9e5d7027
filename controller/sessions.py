"""Granting sessions: the controller decides, from the site's rules (:mod:`controller.rules`).

``build_rules`` tells a station what it needs to enforce sessions alone
(opening hours for two days, its own bookings ahead); ``decide_start``
answers a visitor's "start my session", in this order:

1. with a ticket (``StartRequest.ticket``): the ticket must be called to this
   station and still held (else ``bad_ticket``); the grant is a walk-up grant
   with the hold lifted (origin ``ticket``), and the ticket is claimed;
2. on a station its booking holds (from the lead time to the end): a session
   of the booking (origin ``booking``) until the booking's end or closing;
   this claims the booking's station;
3. otherwise :func:`controller.rules.decide_grant`: cut to closing (cause
   ``closing``) or to the next booking on the station (cause ``booking``, with
   its label), refused when closed, locked, busy, held for a ticket, or too
   short. A free station that a waiting ticket may have (the accessible rule)
   goes to the queue first: a walk-up there is refused ``reserved``.

A ``dry_run`` request is answered the same way and claims nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from controller.floor.state import StationLive
from controller.rules import Grant, accessible_rule_allows, normalise_code
from controller.settings import Settings
from espace import protocol as p

if TYPE_CHECKING:
    from controller.site import Site

log = logging.getLogger(__name__)
_HOURS: dict[int, tuple[Settings, object]] = {}


def _hours(settings: Settings):  # type: ignore[no-untyped-def]
    from controller.site import hours_of

    hit = _HOURS.get(id(settings))
    if hit is None or hit[0] is not settings:
        hit = (settings, hours_of(settings))
        _HOURS[id(settings)] = hit
    return hit[1]


def open_slots(settings: Settings, now: float, days: int = 2) -> list[tuple[float, float]]:
    """Open periods (epoch) from today (local) for ``days`` days."""
    hours = _hours(settings)
    today = hours.local_date(now)
    return [slot for d in range(days) for slot in hours.slots_on(today + timedelta(days=d))]


def closing_after(settings: Settings, now: float) -> float | None:
    """When the open period containing ``now`` closes; None when closed."""
    return _hours(settings).closing_after(now)


def _days_end(settings: Settings, now: float, days: int) -> float:
    today = datetime.fromtimestamp(now, settings.tz).date()
    return datetime.combine(today + timedelta(days=days), time(0), settings.tz).timestamp()


# what the rules may take of an agent's frame: a welcome carries them with a token, a session and a lock reason
RULES_BUDGET = p.MAX_FRAME_BYTES - 2048


def rules_bytes(rules: p.Rules) -> int:
    """The size of the rules on the wire, as a ``rules`` command (a welcome adds less than the margin)."""
    return len(p.encode(p.RulesUpdate(cmd=p.new_id(), rules=rules)).encode())


def build_rules(site: Site | Settings, station: str, now: float, *, fit: bool = True) -> p.Rules:
    """The rules a station caches; with a :class:`Site`, its bookings ahead too.

    They always fit an agent's frame (:data:`RULES_BUDGET`): the desk refuses a booking that
    would not fit (``rules_too_large``); should stored bookings still not fit, the farthest are
    left out, with an error in the log, rather than the agent refusing every welcome.
    With ``fit=False``, the rules as they are (the desk's check).
    """
    settings = site if isinstance(site, Settings) else site.settings
    bookings = [] if isinstance(site, Settings) else [
        p.Slot(start=o.start, end=o.end, label=(o.label or o.booking_id)[:200]) for o in site.station_bookings(station, now)
    ]  # fmt: skip
    call = None if isinstance(site, Settings) else site.queue.held_stations().get(station)
    holds = [] if call is None else [p.Slot(start=call.called, end=call.hold_until, label=f"ticket {call.code}")]
    rules = p.Rules(
        session_minutes=settings.session_minutes,
        warn_minutes=sorted(settings.warn_minutes, reverse=True),
        idle_prompt_s=settings.idle_prompt_minutes * 60,
        idle_grace_s=settings.idle_grace_minutes * 60,
        extension_minutes=settings.extension_minutes,
        last_call_minutes=settings.last_call_minutes,
        print_quota_pages=settings.print_quota_pages,
        timezone=settings.timezone,
        open_slots=[p.Slot(start=a, end=b) for a, b in open_slots(settings, now)],
        slots_until=_days_end(settings, now, 2),
        bookings=bookings,
        holds=holds,  # the station refuses a local walk-up while one runs (the controller away)
    )
    if fit and rules_bytes(rules) > RULES_BUDGET:
        kept = len(rules.bookings)
        while kept and rules_bytes(rules) > RULES_BUDGET:
            kept -= 1
            rules.bookings = rules.bookings[:kept]
        log.error("rules for %s: %d booking(s) left out to fit the agents' frame limit", station, len(bookings) - kept)
    return rules


@dataclass(frozen=True, slots=True)
class Decision:
    grant: p.Grant | None = None
    refuse: p.Refuse | None = None


def _refuse(req: p.StartRequest, reason: str, until: float | None = None) -> Decision:
    refuse = p.Refuse(cmd=p.new_id(), request=req.request, reason=reason, until=until)  # type: ignore[arg-type]
    return Decision(refuse=refuse)


def _grant(req: p.StartRequest, g: Grant, origin: str) -> Decision:
    return Decision(
        grant=p.Grant(
            cmd=p.new_id(), request=req.request, session_id=p.new_id(), start=g.start, end=g.end,
            cause=g.cause, origin=origin, label=g.label[:200], dry_run=req.dry_run,  # type: ignore[arg-type]
        )
    )  # fmt: skip


def _queue_first(site: Site, station: str, now: float) -> bool:
    """Does a waiting ticket come before a walk-up on this free station?"""
    spec = site.by_id[station]
    other_free = any(
        not s.accessible and s.id != station and site._is_free(s.id, now) for s in site.catalog
    )
    return any(
        accessible_rule_allows(
            wants_accessible=t.accessible, station_accessible=spec.accessible, other_free=other_free
        )
        for t in site.queue.waiting()
    )


def decide_start(site: Site, live: StationLive, req: p.StartRequest, now: float) -> Decision:
    station = live.spec.id
    if live.locked is not None:
        return _refuse(req, "locked")
    if live.session is not None or site.starting(station):
        return _refuse(req, "busy")
    decision = _decide(site, live, req, now)
    if decision.grant is not None and not req.dry_run:
        site.granted(station)
    return decision


def _decide(site: Site, live: StationLive, req: p.StartRequest, now: float) -> Decision:
    station = live.spec.id

    if req.ticket:
        code = normalise_code(req.ticket)
        call = site.queue.held_stations().get(station)
        if call is None or call.code != code or now >= call.hold_until:
            return _refuse(req, "bad_ticket")
        booked = site.held_by_booking(now).get(station)  # a booking won over the call meanwhile
        held = None if booked is None else (booked.label or booked.booking_id)
        decided = site.walkup_grant(station, now, reserved_for=held)
        if not isinstance(decided, Grant):
            return _refuse(req, decided.reason, decided.until)
        if not req.dry_run and not site.claim_ticket(code, station, now):
            return _refuse(req, "bad_ticket")
        return _grant(req, decided, "ticket")

    occ = site.held_by_booking(now).get(station)
    if occ is not None:
        closing = site.hours.closing_after(now)
        if closing is None:
            return _refuse(req, "closed", site.hours.next_opening(now))
        end, cause = (occ.end, "length") if occ.end <= closing else (closing, "closing")
        if end - now < site.settings.min_session_minutes * 60:
            return _refuse(req, "no_time")
        return _grant(req, Grant(now, end, cause, occ.label), "booking")  # type: ignore[arg-type]

    call = site.queue.held_stations().get(station)
    reserved_for = f"ticket {call.code}" if call is not None else None
    decided = site.walkup_grant(station, now, reserved_for=reserved_for)
    if not isinstance(decided, Grant):
        return _refuse(req, decided.reason, decided.until)
    if _queue_first(site, station, now):
        return _refuse(req, "reserved")
    return _grant(req, decided, "walkup")
