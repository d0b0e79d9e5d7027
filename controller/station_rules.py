"""What a station caches to enforce sessions alone: the site's hours for two days, its bookings ahead.

From the settings only (no live state): :func:`hours_of` (the site's
:class:`~controller.rules.OpeningHours`), :func:`open_slots`,
:func:`closing_after`, and :func:`rules_for`, the ``espace.protocol.Rules``
sent in a ``welcome`` and a ``rules`` command. Both the live site
(``controller/site.py``) and the grant decisions (``controller/sessions.py``)
use it; it imports neither, so they need not import each other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta

from controller.rules import Occurrence, OpeningHours, parse_hours
from controller.settings import Settings
from espace import protocol as p

log = logging.getLogger(__name__)
_HOURS: dict[int, tuple[Settings, OpeningHours]] = {}
# what the rules may take of an agent's frame: a welcome carries them with a token, a session and a lock reason
RULES_BUDGET = p.MAX_FRAME_BYTES - 2048


def hours_of(settings: Settings) -> OpeningHours:
    """The site's opening hours, from its settings (ValueError names the bad key)."""
    return parse_hours(
        {
            **settings.hours,
            "closed": settings.closed,
            "exceptions": settings.exceptions,
            "timezone": settings.timezone,
        }
    )


def _hours(settings: Settings) -> OpeningHours:
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


def rules_for(settings: Settings, bookings: Iterable[Occurrence], now: float, holds: Iterable[p.Slot] = ()) -> p.Rules:
    """The rules a station caches; ``bookings``: the occurrences ahead on that station; ``holds``: a called
    queue ticket holding it (the station refuses a local walk-up while one runs, the controller away)."""
    return p.Rules(
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
        min_session_minutes=settings.min_session_minutes,
        bookings=[p.Slot(start=o.start, end=o.end, label=(o.label or o.booking_id)[:200]) for o in bookings],
        holds=list(holds),
    )


def rules_bytes(rules: p.Rules) -> int:
    """The size of the rules on the wire, as a ``rules`` command (a welcome adds less than the margin)."""
    return len(p.encode(p.RulesUpdate(cmd=p.new_id(), rules=rules)).encode())


def fit_rules(rules: p.Rules, station: str, budget: int = RULES_BUDGET) -> p.Rules:
    """``rules`` with the farthest bookings left out until they fit ``budget`` bytes (an error in the log)."""
    if rules_bytes(rules) <= budget:
        return rules
    total = kept = len(rules.bookings)
    while kept and rules_bytes(rules) > budget:
        kept -= 1
        rules.bookings = rules.bookings[:kept]
    log.error("rules for %s: %d booking(s) left out to fit the agents' frame limit", station, total - kept)
    return rules
