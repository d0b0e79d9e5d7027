"""Granting sessions: the controller decides, from the site's rules (:mod:`controller.rules`).

``build_rules`` tells a station what it needs to enforce sessions alone
(opening hours for two days, its own bookings ahead); ``decide_start``
answers a visitor's "start my session", in this order:

1. with a ticket (``StartRequest.ticket``): the ticket must be called to this
   station and still held (else ``bad_ticket``); the grant is a walk-up grant
   with the hold lifted (origin ``ticket``), and the ticket is claimed;
2. on a station its booking holds (from the lead time to the end): a session
   of the booking (origin ``booking``) until the booking's end or closing
   (:func:`espace.grant.grant_end`, as every grant);
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
from typing import TYPE_CHECKING

from controller.floor.state import StationLive
from controller.rules import Grant, accessible_rule_allows, normalise_code
from controller.settings import Settings
from controller.station_rules import (
    RULES_BUDGET,
    closing_after,
    fit_rules,
    open_slots,
    rules_bytes,
    rules_for,
)
from espace import protocol as p
from espace.grant import grant_end

__all__ = ["RULES_BUDGET", "Decision", "build_rules", "closing_after", "decide_start", "open_slots", "rules_bytes"]

if TYPE_CHECKING:
    from controller.site import Site

log = logging.getLogger(__name__)


def build_rules(site: Site | Settings, station: str, now: float, *, fit: bool = True) -> p.Rules:
    """The rules a station caches; with a :class:`Site`, its bookings ahead too.

    They always fit an agent's frame (:data:`RULES_BUDGET`): the desk refuses a booking that
    would not fit (``rules_too_large``); should stored bookings still not fit, the farthest are
    left out, with an error in the log, rather than the agent refusing every welcome.
    With ``fit=False``, the rules as they are (the desk's check).
    """
    if isinstance(site, Settings):
        rules = rules_for(site, (), now)
    else:
        rules = rules_for(site.settings, site.station_bookings(station, now), now, site.holds_for(station))
    return fit_rules(rules, station, RULES_BUDGET) if fit else rules


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
        cut = grant_end(now, occ.end, closing=closing, min_minutes=site.settings.min_session_minutes)
        if cut is None:
            return _refuse(req, "no_time")
        return _grant(req, Grant(now, cut.end, cut.cause, occ.label), "booking")

    call = site.queue.held_stations().get(station)
    reserved_for = f"ticket {call.code}" if call is not None else None
    decided = site.walkup_grant(station, now, reserved_for=reserved_for)
    if not isinstance(decided, Grant):
        return _refuse(req, decided.reason, decided.until)
    if _queue_first(site, station, now):
        return _refuse(req, "reserved")
    return _grant(req, decided, "walkup")
